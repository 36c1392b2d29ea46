#!/usr/bin/env bash
# Controller memory per connected agent: N simulated agents (edge-fleetsim, reports every 60 s)
# connect to a freshly started controller; the controller's RSS (VmRSS) once it has started and
# once all N are connected and settled, and the difference per agent.
#
#   tests/bench/fleet/agent_memory_bench.sh --agents N [--dir DIR] [--config-extra 'JSON KEYS']
#
# --dir keeps the PKI, the controller's data and the simulated devices' identities between runs
#   (default: a temp dir, removed): enrolling 10,000 devices takes a while, so it is done once
#   per DIR; every run measures a new controller process on that data.
# --config-extra adds keys to the controller config, e.g. '"grpc_tls_buffers_on_demand": false'.
# Needs a hard descriptor limit of N + 5000 or more. Not a ctest test:
# record the numbers in docs/benchmarks.md ("Fleet scale").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
agents=1000
dir=""
extra=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --config-extra) extra="$2"; shift 2 ;;
    *) echo "usage: agent_memory_bench.sh --agents N [--dir DIR] [--config-extra 'JSON KEYS']" >&2; exit 2 ;;
  esac
done
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
  LF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edge-memory-bench.XXXXXX")"
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
    --devices "$agents" --site plant-1 --report-interval 60 "$@"
}
connected() {
  curl -s "http://127.0.0.1:$(lf_json_field "$LF_DIR/ports.json" metrics)/metrics" |
    awk '/^edgefleet_controller_connected_agents /{print $2}'
}
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$LF_CONTROLLER_PID/status"; }

all_connected() { [ "$(connected)" = "$agents" ]; }

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

start_controller
sleep 3
before=$(rss_kb)
sim --duration 3600 >/dev/null 2>"$LF_DIR/sim.err" &
sim_pid=$!
LF_PIDS+=("$sim_pid")
lf_wait_for 600 all_connected || lf_die "only $(connected) of $agents agents connected"
sleep 15  # hellos stored, first reports in, gRPC's per-connection state settled
after=$(rss_kb)
echo "commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "config extra: ${extra:-none}"
echo "agents $agents: controller RSS $before kB at start, $after kB connected:" \
  "$(awk "BEGIN{printf \"%.1f\", ($after - $before) / $agents}") KB per agent"
