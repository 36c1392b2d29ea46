#!/usr/bin/env bash
# A rollout to a whole simulated fleet on one controller (SQLite): N agents (edge-fleetsim) report
# every 5 s; once all are connected, a canary-and-waves rollout of a new version is deployed
# while an operator makes calls (5 a second); the run ends when every agent has committed the
# version (its downloads included). Prints the time from the deploy to converged, the operator
# calls' latency (p50/p99) while the fleet reported and updated, the controller's RSS and CPU.
#
#   tests/bench/fleet/fleet_rollout_bench.sh --agents N [--dir DIR]
#
# --dir keeps the PKI, the controller's data and the devices' identities between runs (enrolling
#   10,000 devices takes minutes: done once per DIR; agent_memory_bench.sh's DIR works too).
# Needs a hard descriptor limit of N + 5000 or more. Not a ctest test: record the numbers in
# docs/benchmarks.md ("Fleet scale").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
agents=1000
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "usage: fleet_rollout_bench.sh --agents N [--dir DIR]" >&2; exit 2 ;;
  esac
done
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
  LF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edge-rollout-bench.XXXXXX")"
fi
export LF_DIR
# shellcheck source=../../../deploy/lib/localfleet.sh
source "$root/deploy/lib/localfleet.sh"
cleanup() {
  lf_cleanup
  [ -n "$dir" ] || rm -rf "$LF_DIR"
}
trap cleanup EXIT
limits="\"connection_limits\": {\"max_connections_per_source\": 20000, \"accepts_per_second_per_source\": 5000, \"accept_burst_per_source\": 5000, \"agent_max_connections\": $agents}"
export LF_CONTROLLER_EXTRA="\"metrics_listen\": \"127.0.0.1:0\", $limits"
start_controller() {
  : >"$LF_DIR/controller.log"
  if [ -f "$LF_DIR/controller.json" ]; then  # the ports the kept devices already know
    port() { sed -n "s/.*\"$1_listen\": \"127.0.0.1:\([0-9]*\)\".*/\1/p" "$LF_DIR/controller.json"; }
    lf_controller_config "$(port agent)" "$(port enroll)" "$(port operator)"
  fi
  lf_start_controller
}
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
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$LF_CONTROLLER_PID/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$LF_CONTROLLER_PID/status"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

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
# A version no device has yet: the run's own, named by the time.
version="b$(date +%s)"
lf_edgectl model push "$(lf_bundle kws "$version" 2 "$(lf_demo_model)")" >/dev/null 2>&1 || lf_die "push $version"
sim --until-converged "kws:$version" --timeout 3600 --report-interval 5 --soak-scale 0 --operator-rate 5 \
  --progress-interval 30 --summary "$LF_DIR/rollout.json" >/dev/null 2>"$LF_DIR/rollout.err" &
sim_pid=$!
LF_PIDS+=("$sim_pid")
lf_wait_for 900 all_connected || lf_die "only $(connected) of $agents agents connected"
sleep 10  # hellos stored, first reports in
cpu0=$(cpu_s)
started=$(date +%s.%N)
lf_edgectl deploy model "kws:$version" --site plant-1 --canary 100 --waves 10%,50%,100% --soak 5s --no-health-gates \
  >/dev/null 2>"$LF_DIR/deploy.txt" || lf_die "deploy: $(cat "$LF_DIR/deploy.txt")"
wait "$sim_pid" || lf_die "not converged: $(tail -3 "$LF_DIR/rollout.err")"
took=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
cpu1=$(cpu_s)
s="$LF_DIR/rollout.json"
echo "commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "agents $agents (reports every 5 s): deploy -> all converged in ${took} s (canary 100, 10%, 50%, 100%, soaks 5 s)"
echo "  downloads $(json 'd["downloads"]' <"$s"), $(json 'round(d["download_bytes"] / 1e6)' <"$s") MB; converge p50/p99 $(json 'round(d["converge"]["p50_ms"])' <"$s") / $(json 'round(d["converge"]["p99_ms"])' <"$s") ms after each device's target arrived"
echo "  operator calls: $(json 'd["operator_calls"]["count"]' <"$s"), p50 $(json 'round(d["operator_calls"]["p50_ms"], 1)' <"$s") ms, p99 $(json 'round(d["operator_calls"]["p99_ms"], 1)' <"$s") ms, errors $(json 'd["operator_errors"]' <"$s")"
echo "  controller: RSS $(( $(rss_kb) / 1024 )) MB, CPU $(python3 -c "print(f'{$cpu1 - $cpu0:.1f}')") s during the rollout"
