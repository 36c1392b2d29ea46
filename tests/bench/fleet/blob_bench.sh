#!/usr/bin/env bash
# Blob-serving benchmark: how fast the controller serves a model blob to agents (FetchBlob over
# mTLS gRPC, 1 MiB chunks, read from the blob store), against raw TLS throughput on the same
# machine in the same run: edge-tls-loop (tls_loop.cpp), TLS 1.3 on loopback writing 1 MiB
# records from memory. Both receivers hash what they get (sha256), as an agent does.
#
#   single    one simulated agent (edge-fleetsim) downloads the blob; reference: one connection.
#   parallel  P agents download it at once (aggregate MB/s); reference: P connections.
#
# Usage: tests/bench/fleet/blob_bench.sh [--mib SIZE] [--parallel P] [--config-extra 'JSON KEYS']
#   (default 64 MiB, 8; --config-extra adds keys to the controller config, e.g.
#   '"grpc_tls_buffers_on_demand": false')
# Not a ctest test: the numbers depend on the machine. Record them in docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
mib=64
parallel=8
extra=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) mib="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --config-extra) extra="$2"; shift 2 ;;
    *) echo "usage: blob_bench.sh [--mib SIZE] [--parallel P] [--config-extra 'JSON KEYS']" >&2; exit 2 ;;
  esac
done
preset="${EDGE_PRESET:-ci}"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake --preset "$preset" -S "$root" >/dev/null
cmake --build --preset "$preset" --target edge-controller edgectl edge-fleetsim edge-tls-loop >/dev/null
export LF_BIN="$root/build/$preset"
LF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edge-blob-bench.XXXXXX")"
export LF_DIR
# shellcheck source=../../../deploy/lib/localfleet.sh
source "$root/deploy/lib/localfleet.sh"
cleanup() {
  lf_cleanup
  rm -rf "$LF_DIR"
}
trap cleanup EXIT

lf_pki
export LF_CONTROLLER_EXTRA='"connection_limits": {"max_connections_per_source": 1000, "accepts_per_second_per_source": 1000, "accept_burst_per_source": 1000}'"${extra:+, $extra}"
lf_start_controller
lf_edgectl create site bench >/dev/null
head -c $((mib * 1024 * 1024)) /dev/urandom >"$LF_DIR/big.bin"

# Reference: raw TLS on loopback with the controller's certificate (tls_loop.cpp).
loop() { "$LF_BIN/tests/bench/fleet/edge-tls-loop" --cert "$LF_DIR/pki/controller.pem" --key "$LF_DIR/pki/controller.key" \
  --ca "$LF_DIR/pki/fleet-ca.pem" --mib "$mib" --parallel "$1"; }
ref_single=$(loop 1)
ref_parallel=$(loop "$parallel")

# The controller: a version whose extra blob is the file, deployed to simulated agents.
model="$(lf_demo_model)"
sim() {  # PREFIX DEVICES VERSION
  "$LF_BIN/tests/fleetsim/edge-fleetsim" --agent-endpoint "127.0.0.1:$LF_AGENT_PORT" --enroll-endpoint "127.0.0.1:$LF_ENROLL_PORT" \
    --ca "$LF_DIR/pki/fleet-ca.pem" --release-root "$LF_DIR/pki/release-root.pub" --state "$LF_DIR/sim-$1" \
    --prefix "$1" --devices "$2" --site bench --soak-scale 0 --until-converged "kws:$3" --timeout 600 \
    --summary "$LF_DIR/$1.json" >/dev/null 2>"$LF_DIR/$1.err"
}
run() {  # PREFIX DEVICES VERSION → aggregate MB/s of the blob downloads
  "$LF_BIN/tests/fleetsim/edge-fleetsim" --agent-endpoint "127.0.0.1:$LF_AGENT_PORT" --enroll-endpoint "127.0.0.1:$LF_ENROLL_PORT" \
    --ca "$LF_DIR/pki/fleet-ca.pem" --release-root "$LF_DIR/pki/release-root.pub" --state "$LF_DIR/sim-$1" \
    --prefix "$1" --devices "$2" --site bench --until-connected --timeout 120 >/dev/null 2>&1
  lf_edgectl model push "$(lf_bundle kws "$3" 1 "$model" --blob "weights-extra=$LF_DIR/big.bin")" >/dev/null 2>&1
  sim "$1" "$2" "$3" &
  local pid=$!
  lf_wait_for 30 lf_fleet_online "$2" || { echo "agents not online" >&2; exit 1; }
  lf_edgectl deploy model "kws:$3" --device "$(seq -f "$1-%05g" 1 "$2" | paste -sd,)" --all-at-once --no-health-gates >/dev/null 2>&1
  wait "$pid" || { echo "$1: did not converge: $(tail -3 "$LF_DIR/$1.err")" >&2; exit 1; }
  python3 -c "import json; print(f'{json.load(open(\"$LF_DIR/$1.json\"))[\"download_aggregate_mbps\"]:.1f}')"
}
single=$(run solo 1 s1)
par=$(run par "$parallel" p1)

echo "commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "blob of $mib MiB, sha256 checked on receipt; config extra: ${extra:-none}"
printf '%-10s %22s %22s %8s\n' mode "controller FetchBlob" "raw TLS loop" ratio
printf '%-10s %17s MB/s %17s MB/s %8s\n' single "$single" "$ref_single" "$(python3 -c "print(f'{$single / $ref_single:.2f}')")"
printf '%-10s %17s MB/s %17s MB/s %8s\n' "parallel $parallel" "$par" "$ref_parallel" "$(python3 -c "print(f'{$par / $ref_parallel:.2f}')")"
