#!/usr/bin/env bash
# A rollout to a whole simulated fleet on one controller (SQLite): N agents (edge-fleetsim) report
# every 5 s; once all are connected, an operator makes calls (5 a second, from a process of its
# own) for 60 s, then a canary-and-waves rollout of a new version is deployed while the operator
# goes on; the run ends when every agent has committed the
# version (its downloads included). Prints the time from the deploy to converged, the operator
# calls' latency (p50/p99) while the fleet reported and updated, the controller's RSS and CPU.
#
#   tests/bench/fleet/fleet_rollout_bench.sh --agents N [--dir DIR]
#
# --dir keeps the PKI, the controller's data and the devices' identities between runs (enrolling
#   10,000 devices takes minutes: done once per DIR; agent_memory_bench.sh's DIR works too).
# LF_CONTROLLER_BIN=PATH measures another controller build (an A/B; give it a DIR of its own:
#   a newer build migrates the data dir, and an older one then refuses it).
# Needs a hard descriptor limit of N + 5000 or more. Not a ctest test: record the numbers in
# docs/benchmarks.md ("Fleet scale").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
agents=1000
dir=""
extra=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "usage: fleet_rollout_bench.sh --agents N [--dir DIR]" >&2; exit 2 ;;
  esac
done
# shellcheck source=fleet_bench_lib.sh
source "$root/tests/bench/fleet/fleet_bench_lib.sh"
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

start_controller
# A version no device has yet: the run's own, named by the time.
version="b$(date +%s)"
lf_edgectl model push "$(lf_bundle kws "$version" 2 "$(lf_demo_model)")" >/dev/null 2>&1 || lf_die "push $version"
sim --until-converged "kws:$version" --timeout 3600 --report-interval 5 --soak-scale 0 \
  --progress-interval 30 --summary "$LF_DIR/rollout.json" >/dev/null 2>"$LF_DIR/rollout.err" &
sim_pid=$!
LF_PIDS+=("$sim_pid")
lf_wait_for 900 all_connected || lf_die "only $(connected) of $agents agents connected"
sleep 10  # hellos stored, first reports in
# The operator: 5 calls a second from a process of its own (the simulator's loop, busy with the
# fleet, would add its own queue to the answers). First for 60 s while the fleet only reports,
# then through the rollout.
mkdir -p "$LF_DIR/operator-sim"
operator() {  # summary file, seconds
  "$LF_BIN/tests/fleetsim/edge-fleetsim" --agent-endpoint "127.0.0.1:$LF_AGENT_PORT" --ca "$LF_DIR/pki/fleet-ca.pem" \
    --release-root "$LF_DIR/pki/release-root.pub" --state "$LF_DIR/operator-sim" --devices 0 --operator-rate 5 \
    --duration "$2" --timeout $(($2 + 60)) --summary "$1" >/dev/null 2>>"$LF_DIR/operator.err" &
  op_pid=$!
  LF_PIDS+=("$op_pid")
}
operator "$LF_DIR/operator-steady.json" 60
wait "$op_pid" || true
operator "$LF_DIR/operator.json" 7200
cpu0=$(cpu_s)
started=$(date +%s.%N)
lf_edgectl deploy model "kws:$version" --site plant-1 --canary 100 --waves 10%,50%,100% --soak 5s --no-health-gates \
  >/dev/null 2>"$LF_DIR/deploy.txt" || lf_die "deploy: $(cat "$LF_DIR/deploy.txt")"
# The simulator waits up to an hour for convergence: a controller that exits ends the run.
while kill -0 "$sim_pid" 2>/dev/null; do
  kill -0 "$LF_CONTROLLER_PID" 2>/dev/null || lf_die "the controller exited: $(grep -v '"info"' "$LF_DIR/controller.log" | tail -3)"
  sleep 1
done
wait "$sim_pid" || lf_die "not converged: $(tail -3 "$LF_DIR/rollout.err")"
took=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
kill -TERM "$op_pid" && wait "$op_pid" || true  # ends with its summary
cpu1=$(cpu_s)
s="$LF_DIR/rollout.json"
echo "commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "agents $agents (reports every 5 s): deploy -> all converged in ${took} s (canary 100, 10%, 50%, 100%, soaks 5 s)"
echo "  downloads $(json 'd["downloads"]' <"$s"), $(json 'round(d["download_bytes"] / 1e6)' <"$s") MB; converge p50/p99 $(json 'round(d["converge"]["p50_ms"])' <"$s") / $(json 'round(d["converge"]["p99_ms"])' <"$s") ms after each device's target arrived"
o="$LF_DIR/operator-steady.json"
echo "  operator calls (from a process of their own) while the fleet reported, 60 s before the deploy: $(json 'd["operator_calls"]["count"]' <"$o"), p50 $(json 'round(d["operator_calls"]["p50_ms"], 1)' <"$o") ms, p99 $(json 'round(d["operator_calls"]["p99_ms"], 1)' <"$o") ms, max $(json 'round(d["operator_calls"]["max_ms"], 1)' <"$o") ms, errors $(json 'd["operator_errors"]' <"$o")"
o="$LF_DIR/operator.json"
echo "  operator calls (from a process of their own, during the rollout): $(json 'd["operator_calls"]["count"]' <"$o"), p50 $(json 'round(d["operator_calls"]["p50_ms"], 1)' <"$o") ms, p99 $(json 'round(d["operator_calls"]["p99_ms"], 1)' <"$o") ms, max $(json 'round(d["operator_calls"]["max_ms"], 1)' <"$o") ms, errors $(json 'd["operator_errors"]' <"$o")"
echo "    by call: $(json '", ".join("%s p50 %.1f / p99 %.1f ms" % (k, v["p50_ms"], v["p99_ms"]) for k, v in sorted(d["operator_by_call"].items()))' <"$o")"
echo "  controller: RSS $(( $(rss_kb) / 1024 )) MB, CPU $(python3 -c "print(f'{$cpu1 - $cpu0:.1f}')") s during the rollout"
