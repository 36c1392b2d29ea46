# shellcheck shell=bash
# Shared by the fleet benchmarks that run one controller and N simulated agents
# (agent_memory_bench.sh, fleet_rollout_bench.sh). Set `root`, `agents`, `dir` (may be empty)
# and `extra` (controller config keys, may be empty), then source this file: it checks the
# descriptor limit, builds what the runs need, makes LF_DIR (kept when `dir` is given), defines
# start_controller, sim, connected, all_connected, rss_kb and cpu_s, and enrolls the devices
# the kept state does not have yet (enrolling 10,000 takes minutes: once per DIR).
# The simulator and the controller each hold a descriptor per agent: both get the hard limit.
ulimit -Sn "$(ulimit -Hn)"
[ "$(ulimit -Sn)" = unlimited ] || [ "$(ulimit -Sn)" -ge $((agents + 5000)) ] ||
  { echo "the hard descriptor limit (ulimit -Hn) must be at least $((agents + 5000))" >&2; exit 2; }
preset="${EDGE_PRESET:-ci}"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake --preset "$preset" -S "$root" >/dev/null
cmake --build --preset "$preset" --target edge-controller edgectl edge-fleetsim >/dev/null
export LF_BIN="$root/build/$preset"
if [ -n "$dir" ]; then
  mkdir -p "$dir"
  LF_DIR="$(cd "$dir" && pwd)"
else
  LF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edge-fleet-bench.XXXXXX")"
fi
export LF_DIR
# shellcheck source=../../../deploy/lib/localfleet.sh
source "$root/deploy/lib/localfleet.sh"
cleanup() {
  lf_cleanup
  [ -n "$dir" ] || rm -rf "$LF_DIR"
}
trap cleanup EXIT
# All simulated agents come from 127.0.0.1: the per-source limits must let them in.
limits="\"connection_limits\": {\"max_connections_per_source\": 20000, \"accepts_per_second_per_source\": 5000, \"accept_burst_per_source\": 5000, \"agent_max_connections\": $agents}"
export LF_CONTROLLER_EXTRA="\"metrics_listen\": \"127.0.0.1:0\", $limits${extra:+, $extra}"
start_controller() {
  : >"$LF_DIR/controller.log"
  if [ -f "$LF_DIR/controller.json" ]; then  # the ports the kept devices already know
    port() { sed -n "s/.*\"$1_listen\": \"127.0.0.1:\([0-9]*\)\".*/\1/p" "$LF_DIR/controller.json"; }
    lf_controller_config "$(port agent)" "$(port enroll)" "$(port operator)"
  fi
  lf_start_controller
}
# exec: run in the background, $! is the simulator itself (cleanup stops it, not a subshell).
sim() {
  exec "$LF_BIN/tests/fleetsim/edge-fleetsim" --agent-endpoint "127.0.0.1:$LF_AGENT_PORT" --enroll-endpoint "127.0.0.1:$LF_ENROLL_PORT" \
    --ca "$LF_DIR/pki/fleet-ca.pem" --release-root "$LF_DIR/pki/release-root.pub" --state "$LF_DIR/sim" \
    --devices "$agents" --site plant-1 "$@"
}
connected() {
  curl -s "http://127.0.0.1:$(lf_json_field "$LF_DIR/ports.json" metrics)/metrics" |
    awk '/^edgefleet_controller_connected_agents /{print $2}'
}
all_connected() { [ "$(connected)" = "$agents" ]; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$LF_CONTROLLER_PID/status"; }
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$LF_CONTROLLER_PID/stat"; }

if [ -f "$LF_DIR/pki/fleet-ca.pem" ]; then export EDGECTL_CONFIG="$LF_DIR/pki/edgectl.json"; else lf_pki; fi
enrolled=0
[ ! -f "$LF_DIR/sim/identities.jsonl" ] || enrolled=$(wc -l <"$LF_DIR/sim/identities.jsonl")
if [ "$enrolled" -lt "$agents" ]; then
  start_controller
  lf_edgectl create site plant-1 >/dev/null 2>&1 || true
  (sim --until-connected --timeout 3600 --enroll-concurrency 12 >/dev/null 2>"$LF_DIR/enroll.err") ||
    lf_die "enrollment failed: $(tail -3 "$LF_DIR/enroll.err")"
  lf_stop_controller
fi
