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
# shellcheck source=fleet_bench_lib.sh
source "$root/tests/bench/fleet/fleet_bench_lib.sh"

start_controller
sleep 3
before=$(rss_kb)
sim --duration 3600 --report-interval 60 >/dev/null 2>"$LF_DIR/sim.err" &
sim_pid=$!
LF_PIDS+=("$sim_pid")
lf_wait_for 600 all_connected || lf_die "only $(connected) of $agents agents connected"
sleep 15  # hellos stored, first reports in, gRPC's per-connection state settled
after=$(rss_kb)
echo "commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "config extra: ${extra:-none}"
echo "agents $agents: controller RSS $before kB at start, $after kB connected:" \
  "$(awk "BEGIN{printf \"%.1f\", ($after - $before) / $agents}") KB per agent"
