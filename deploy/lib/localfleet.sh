# shellcheck shell=bash
# A local fleet on loopback: PKI, one edge-controller and any number of edge-agents as real
# processes, each with its own state directory. Used by deploy/demo.sh and the integration
# tests. Source it, set LF_BIN (build dir) and LF_DIR (work dir), then call lf_* functions.

: "${LF_BIN:?LF_BIN must point at the build directory}"
: "${LF_DIR:?LF_DIR must point at a work directory}"
LF_FLEET="${LF_FLEET:-demo}"
# EDGE_TIME_SCALE: how many times slower than a native CPU this fleet runs (a whole number,
# default 1). tests/run.sh --arch arm64 sets it for the emulated CPU; every wait, soak window
# and latency bound of the tests is multiplied by it. Results are never scaled.
LF_TS="${EDGE_TIME_SCALE:-1}"
case "$LF_TS" in '' | *[!0-9]* | 0*) printf 'EDGE_TIME_SCALE must be a whole number >= 1 (got "%s")\n' "$LF_TS" >&2; exit 2 ;; esac
LF_PIDS=()
declare -A LF_AGENT_PID=()

lf_edgectl() { "$LF_BIN/controller/edgectl" "$@"; }
lf_log() { printf '%s\n' "$*" >&2; }

lf_die() {
  lf_log "FAILED: $*"
  exit 1
}

# Waits until the command succeeds; fails after $1 seconds (times EDGE_TIME_SCALE).
lf_wait_for() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout * LF_TS))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

lf_json_field() {  # file key → integer value of "key":N
  sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}

lf_pki() {
  lf_edgectl pki init --dir "$LF_DIR/pki" --fleet "$LF_FLEET" --controller-host 127.0.0.1 \
    --controller-host localhost 2>/dev/null || lf_die "pki init"
  export EDGECTL_CONFIG="$LF_DIR/pki/edgectl.json"
}

# A port on 127.0.0.1 that is free now, below the kernel's ephemeral range (32768 and up): a
# port the kernel picked for a listener (port 0) comes from that range, and once the listener
# closes (a controller killed and restarted) any process's outgoing connection may take it,
# and the restart fails "address in use". Ports below the range are never handed out that way.
lf_pick_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randrange(20000, 32700)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}

# Writes the controller config. Ports default to free ones below the ephemeral range
# (lf_pick_port); "0" lets the kernel pick (see ports.json).
# Extra JSON members for the controller config may be set in LF_CONTROLLER_EXTRA.
lf_controller_config() {
  local agent_port=${1:-$(lf_pick_port)} enroll_port=${2:-$(lf_pick_port)} operator_port=${3:-$(lf_pick_port)}
  cat >"$LF_DIR/controller.json" <<JSON
{
  "fleet": "$LF_FLEET",
  "data_dir": "$LF_DIR/controller",
  "agent_listen": "127.0.0.1:$agent_port",
  "enroll_listen": "127.0.0.1:$enroll_port",
  "operator_listen": "127.0.0.1:$operator_port",
  "fleet_ca_cert": "$LF_DIR/pki/fleet-ca.pem",
  "fleet_ca_key": "$LF_DIR/pki/fleet-ca.key",
  "server_cert": "$LF_DIR/pki/controller.pem",
  "server_key": "$LF_DIR/pki/controller.key",
  "operator_ca_cert": "$LF_DIR/pki/operator-ca.pem",
  "trust_policy": "$LF_DIR/pki/trust-policy.json",
  "release_root_public_key": "$LF_DIR/pki/release-root.pub",
  "ports_file": "$LF_DIR/ports.json"${LF_CONTROLLER_EXTRA:+,
  $LF_CONTROLLER_EXTRA}
}
JSON
}

# Starts the controller (LF_CONTROLLER_BIN, if set, instead of the built one: an A/B of two builds).
lf_start_controller() {
  local first=0 attempt
  [ -f "$LF_DIR/controller.json" ] || { lf_controller_config; first=1; }
  for attempt in 1 2 3; do
    rm -f "$LF_DIR/ports.json"
    "${LF_CONTROLLER_BIN:-$LF_BIN/controller/edge-controller}" --config "$LF_DIR/controller.json" 2>>"$LF_DIR/controller.log" &
    LF_CONTROLLER_PID=$!
    LF_PIDS+=("$LF_CONTROLLER_PID")
    lf_wait_for 20 lf_started_or_gone && [ -s "$LF_DIR/ports.json" ] && break
    # A picked port taken by another process between the pick and the bind: pick again (a
    # first start only; a restart must keep its ports for the agents).
    if [ "$first" = 1 ] && [ "$attempt" -lt 3 ] && tail -n 3 "$LF_DIR/controller.log" | grep -q 'in use'; then
      lf_controller_config
      continue
    fi
    lf_die "controller did not start (see $LF_DIR/controller.log)"
  done
  LF_AGENT_PORT=$(lf_json_field "$LF_DIR/ports.json" agent)
  LF_ENROLL_PORT=$(lf_json_field "$LF_DIR/ports.json" enroll)
  LF_OPERATOR_PORT=$(lf_json_field "$LF_DIR/ports.json" operator)
  export EDGECTL_CONTROLLER="127.0.0.1:$LF_OPERATOR_PORT"
  # Later restarts keep the same ports, so agents find the controller again.
  lf_controller_config "$LF_AGENT_PORT" "$LF_ENROLL_PORT" "$LF_OPERATOR_PORT"
}

lf_started_or_gone() { [ -s "$LF_DIR/ports.json" ] || ! kill -0 "$LF_CONTROLLER_PID" 2>/dev/null; }

lf_stop_controller() {  # [signal]
  kill "-${1:-TERM}" "$LF_CONTROLLER_PID" 2>/dev/null
  wait "$LF_CONTROLLER_PID" 2>/dev/null || true
}

# lf_add_agent NAME SITE [extra JSON members, e.g. '"download_rate_limit": 1000000']
lf_add_agent() {
  local name=$1 site=$2 extra=${3:-}
  local token
  token=$(lf_edgectl token create --site "$site" --ttl 10m 2>/dev/null) || lf_die "token create for $site"
  cat >"$LF_DIR/$name.json" <<JSON
{
  "device_name": "$name",
  "state_dir": "$LF_DIR/$name",
  "controller": "127.0.0.1:$LF_AGENT_PORT",
  "enroll_endpoint": "127.0.0.1:$LF_ENROLL_PORT",
  "ca_file": "$LF_DIR/pki/fleet-ca.pem",
  "release_root_public_key": "$LF_DIR/pki/release-root.pub",
  "enrollment_token": "$token",
  "report_interval_seconds": 2,
  "backoff_initial_ms": 100,
  "backoff_max_ms": 1000,
  "min_free_bytes": 0,
  "inference_socket": "$LF_DIR/$name/infer.sock",
  "probation_check_ms": 200${extra:+,
  $extra}
}
JSON
  lf_start_agent "$name"
}

lf_start_agent() {
  local name=$1
  "$LF_BIN/agent/edge-agent" --config "$LF_DIR/$name.json" 2>>"$LF_DIR/$name.log" &
  LF_AGENT_PID[$name]=$!
  LF_PIDS+=("$!")
}

lf_kill_agent() {  # NAME [signal]
  kill "-${2:-TERM}" "${LF_AGENT_PID[$1]}" 2>/dev/null
  wait "${LF_AGENT_PID[$1]}" 2>/dev/null || true
}

# lf_bundle NAME VERSION SECURITY_VERSION MODEL_FILE [more `bundle build` flags] → prints the
# signed bundle dir
lf_bundle() {
  local dir="$LF_DIR/bundles/$1-$2"
  lf_edgectl bundle build --name "$1" --version "$2" --security-version "$3" --model "$4" --out "$dir" "${@:5}" 2>/dev/null ||
    lf_die "bundle build $1:$2"
  lf_edgectl bundle sign "$dir" --key "$LF_DIR/pki/release-1.key" 2>/dev/null || lf_die "bundle sign $1:$2"
  echo "$dir"
}

# True when every device of the site reports MODEL at VERSION, committed.
lf_site_on() {  # SITE MODEL VERSION
  local out
  out=$(lf_edgectl get devices --site "$1" 2>/dev/null) || return 1
  [ "$(echo "$out" | tail -n +2 | grep -c .)" -gt 0 ] || return 1
  ! echo "$out" | tail -n +2 | grep -v "$2:$3 .*committed" | grep -q .
}

lf_cleanup() {
  local pid
  # CONT too: a process a test stopped (SIGSTOP) and left so on failure would not act on TERM,
  # and the wait below would hang until ctest's timeout
  for pid in "${LF_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null; done
  for pid in "${LF_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

lf_fleet_online() {  # N: the controller reports N devices online
  [ "$(lf_edgectl get devices 2>/dev/null | grep -c ' online ')" -eq "$1" ]
}

# The demo's model: the quantized (QDQ int8) DS-CNN keyword spotter from the engine's zoo.
lf_demo_model() {
  local m
  m="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/models/zoo/ds_cnn_kws.qdq.onnx"
  [ -f "$m" ] || lf_die "the demo model $m is missing from this checkout"
  echo "$m"
}
