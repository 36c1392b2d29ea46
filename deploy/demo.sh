#!/usr/bin/env bash
# edgefleet in one command: installs what is missing, builds, starts a controller and four
# agents on this machine (two at site plant-7, two at plant-9), signs and pushes a quantized
# model, deploys it to plant-7 and shows the fleet; then a staged rollout of a new version to
# both sites under live traffic, followed with `rollout watch`, and one that stops itself: a
# much slower version is caught at the canary by its on-device health and reverted.
#   deploy/demo.sh          run the demo, then stop everything
#   deploy/demo.sh --keep   leave the fleet running and print how to reach it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$arg' (use --keep or --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing dependencies and building (first run takes a few minutes)"
"$root/deploy/install-deps.sh"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
preset="${EDGE_PRESET:-ci}"
cmake --preset "$preset" -S "$root" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" --target edge-controller edge-agent edgectl >/dev/null

export LF_BIN="$root/build/$preset"
LF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edgefleet-demo.XXXXXX")"
export LF_DIR LF_FLEET=demo
# shellcheck source=lib/localfleet.sh
source "$root/deploy/lib/localfleet.sh"
export PATH="$LF_BIN/controller:$PATH"
traffic_pid=""
finish() {
  [ -z "$traffic_pid" ] || kill "$traffic_pid" 2>/dev/null || true
  if [ "$keep" -eq 0 ]; then
    lf_cleanup
    rm -rf "$LF_DIR"
  fi
}
trap finish EXIT

say "fleet PKI: CAs, controller and operator certificates, release keys, signed trust policy"
lf_pki
ls "$LF_DIR/pki"

say "controller (SQLite store in $LF_DIR/controller)"
lf_start_controller
echo "agents: 127.0.0.1:$LF_AGENT_PORT   enrollment: 127.0.0.1:$LF_ENROLL_PORT   operators: 127.0.0.1:$LF_OPERATOR_PORT"

say "two sites, four agents enrolling with one-time tokens"
edgectl create site plant-7
edgectl create site plant-9
for a in gw-7a:plant-7 gw-7b:plant-7 gw-9a:plant-9 gw-9b:plant-9; do lf_add_agent "${a%%:*}" "${a##*:}"; done
lf_wait_for 30 lf_fleet_online 4 || lf_die "agents did not come online (logs in $LF_DIR)"
edgectl get devices

say "build (with self-test vectors the agents check before switching), sign and push model bundle kws:v3"
model="$(lf_demo_model)"
echo "model: $model ($(stat -c %s "$model") bytes)"
edgectl bundle selftest --model "$model" --input "$(dirname "$model")/ds_cnn_kws.input.npy" --out "$LF_DIR/kws-selftest.json"
edgectl bundle build --name kws --version v3 --security-version 3 --model "$model" --selftest "$LF_DIR/kws-selftest.json" \
  --out "$LF_DIR/kws-v3"
edgectl bundle sign "$LF_DIR/kws-v3" --key "$LF_DIR/pki/release-1.key"
edgectl bundle verify "$LF_DIR/kws-v3" --trust-policy "$LF_DIR/pki/trust-policy.json" --root-key "$LF_DIR/pki/release-root.pub"
edgectl model push "$LF_DIR/kws-v3"
edgectl get models

# A first install has no incumbent to compare with: one wave, no soak (the default strategy
# is staged; see the rollouts below).
say "edgectl deploy model v3 --site plant-7 --all-at-once --wait"
start=$(date +%s.%N)
edgectl deploy model v3 --site plant-7 --all-at-once --wait
end=$(date +%s.%N)

say "the fleet: plant-7 runs v3, plant-9 untouched"
edgectl get devices
printf '\ndeploy → converged: %.2f s (wall clock, including edgectl start-up)\n' "$(echo "$end - $start" | bc -l 2>/dev/null || awk "BEGIN{print $end-$start}")"
edgectl describe device gw-7a | sed -n '1,9p'

say "local inference on gw-7a: a keyword-spotting request (random features) over its unix socket (Open Inference Protocol)"
edgectl infer kws --socket "$LF_DIR/gw-7a/infer.sock" --random

say "gw-7a's next health report, as the controller stores it"
sleep 2.5  # the demo agents report every 2 s
edgectl describe device gw-7a | sed -n '/^Health:/,/^Health history/p' | sed '$d'
edgectl describe device gw-7a | sed -n '/^Update events/,/^Recent audit/p' | sed '$d'

say "live traffic: every gateway serves keyword-spotting requests (the health gates judge versions on it)"
traffic() {
  while true; do
    for gw in gw-7a gw-7b gw-9a gw-9b; do
      edgectl infer kws --socket "$LF_DIR/$gw/infer.sock" --random --repeat 10 >/dev/null 2>&1 || true
    done
    sleep 0.2
  done
}
traffic &
traffic_pid=$!
echo "traffic generator: pid $traffic_pid (edgectl infer --repeat on each gateway's socket)"

say "a staged rollout: kws:v4 to plant-7 and plant-9 — a canary, then 50%, then 100%, each wave health-gated"
# v4: the same network, rebuilt (a new doc string makes it a distinct file).
cp "$model" "$LF_DIR/kws-v4.onnx"
printf '\x32\x0erebuilt for v4' >>"$LF_DIR/kws-v4.onnx"
edgectl bundle build --name kws --version v4 --security-version 3 --model "$LF_DIR/kws-v4.onnx" \
  --selftest "$LF_DIR/kws-selftest.json" --out "$LF_DIR/kws-v4" >/dev/null
edgectl bundle sign "$LF_DIR/kws-v4" --key "$LF_DIR/pki/release-1.key" >/dev/null
edgectl model push "$LF_DIR/kws-v4"
id=$(edgectl deploy model kws:v4 --site plant-7,plant-9 --canary 1 --waves 50%,100% --soak 5s --min-requests 20 -o json |
  sed -n 's/^  "id": \([0-9]*\),*$/\1/p')
echo "+ edgectl rollout watch $id"
edgectl rollout watch "$id"
edgectl get devices

say "a rollout that stops itself: kws:v5, the float export of the same network, passes its self-test but is far slower"
fp32="$(dirname "$model")/ds_cnn_kws.onnx"
edgectl bundle selftest --model "$fp32" --input "$(dirname "$model")/ds_cnn_kws.input.npy" --out "$LF_DIR/kws-v5-selftest.json"
edgectl bundle build --name kws --version v5 --security-version 3 --model "$fp32" \
  --selftest "$LF_DIR/kws-v5-selftest.json" --out "$LF_DIR/kws-v5" >/dev/null
edgectl bundle sign "$LF_DIR/kws-v5" --key "$LF_DIR/pki/release-1.key" >/dev/null
edgectl model push "$LF_DIR/kws-v5"
echo "+ edgectl deploy model kws:v5 --site plant-7,plant-9 --canary 1 --waves 100% --soak 5s --min-requests 20 --wait"
if edgectl deploy model kws:v5 --site plant-7,plant-9 --canary 1 --waves 100% --soak 5s --min-requests 20 --wait; then
  lf_die "kws:v5 was not stopped by its health gate"
fi
echo "(exit 1: the rollout stopped itself and reverted its canary)"
edgectl get rollouts
edgectl get devices

if [ "$keep" -eq 1 ]; then
  say "the fleet keeps running"
  cat <<MSG
  export PATH="$LF_BIN/controller:\$PATH"
  export EDGECTL_CONFIG="$EDGECTL_CONFIG" EDGECTL_CONTROLLER="$EDGECTL_CONTROLLER"
  edgectl get devices
  edgectl infer kws --socket $LF_DIR/gw-7a/infer.sock --random
  dashboard: https://$EDGECTL_CONTROLLER/ in a browser holding the operator certificate
             $LF_DIR/pki/operators/admin.pem (docs/operations.md#dashboard says how)
  logs:   $LF_DIR/*.log
  stop:   kill ${LF_PIDS[*]}
MSG
fi
