#!/usr/bin/env bash
# Staged rollouts with real agents and real models, 12 gateways over 3 sites: a good version
# walks through every wave; a version that passes its self-test but is much slower on the
# devices, and one that errors on real inputs, each stop at the canary wave, the canary is
# reverted and no other device is touched.
source "$(dirname "$0")/lib.sh"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# rq ID EXPR: EXPR over `edgectl rollout get ID -o json` (as d).
rq() { lf_edgectl rollout get "$1" -o json 2>/dev/null | json "$2"; }
rollout_id() { json 'd["id"]' <<<"$1"; }
zoo="$here/../models/zoo"
sites=(plant-a plant-b plant-c)
all=()

step "controller, 3 sites, 12 agents; mlp:v1 everywhere at once"
lf_pki
lf_start_controller
for s in "${sites[@]}"; do lf_edgectl create site "$s" 2>/dev/null || lf_die "create site $s"; done
for i in $(seq 1 12); do
  name=$(printf 'gw-%02d' "$i")
  lf_add_agent "$name" "${sites[$(((i - 1) % 3))]}"
  all+=("$name")
done
lf_wait_for 60 all_online 12 || lf_die "12 agents not online: $(lf_edgectl get devices 2>&1)"
mlp_selftest mlp_anomaly.qdq "$LF_DIR/mlp.selftest.json"
make_model "$LF_DIR/v1.onnx"
lf_edgectl model push "$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx")" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model mlp:v1 --site plant-a,plant-b,plant-c --all-at-once --wait --timeout 120s 2>"$LF_DIR/v1.txt" ||
  lf_die "v1: $(cat "$LF_DIR/v1.txt")"
expect_contains "converged: 12/12 devices run mlp:v1" "$(cat "$LF_DIR/v1.txt")"
ok "12/12 on v1"

step "a good version walks through the canary and two waves, each device dispatched once"
make_model "$LF_DIR/v2.onnx"
lf_edgectl model push "$(lf_bundle mlp v2 1 "$LF_DIR/v2.onnx" --selftest "$LF_DIR/mlp.selftest.json")" 2>/dev/null ||
  lf_die "push v2"
lf_edgectl deploy model mlp:v2 --site plant-a --site plant-b,plant-c --canary 1 --waves 50%,100% --soak 1s \
  --min-requests 0 --wait --timeout 150s -o json >"$LF_DIR/v2.json" 2>"$LF_DIR/v2.txt" ||
  lf_die "v2 did not converge: $(cat "$LF_DIR/v2.txt")"
expect_contains "converged: 12/12 devices run mlp:v2" "$(cat "$LF_DIR/v2.txt")"
v2=$(tail -n 1 "$LF_DIR/v2.json")
[ "$(json 'd["state"]' <<<"$v2")" = completed ] || lf_die "v2 not completed: $v2"
[ "$(json '[w["devices"] for w in d["waves"]]' <<<"$v2")" = "[1, 5, 6]" ] || lf_die "waves are not 1, 5, 6: $v2"
[ "$(json 'sorted(set(x["dispatches"] for x in d["devices"]))' <<<"$v2")" = "[1]" ] || lf_die "a device was dispatched twice: $v2"
[ "$(json '[w["gate"][:6] for w in d["waves"]]' <<<"$v2")" = "['passed', 'passed', 'passed']" ] || lf_die "gates: $v2"
# The JSON event stream shows each wave starting in order.
[ "$(grep -c '"kind": *"wave_started"' "$LF_DIR/v2.json")" -eq 3 ] || lf_die "expected 3 wave_started events"
lf_site_on plant-a mlp v2 && lf_site_on plant-b mlp v2 && lf_site_on plant-c mlp v2 || lf_die "not every site on v2"
ok "canary 1, then 5, then 6; every gate passed; dispatches == 1 each"

# Traffic for the incumbent: each device's v2 serves 40 requests, so the health gates can
# compare the new version with it on the same device. Reports go every 2 s.
traffic() {  # AGENT N [infer flags]
  lf_edgectl infer mlp --socket "$LF_DIR/$1/infer.sock" --repeat "$2" "${@:3}" >/dev/null 2>&1
}
for a in "${all[@]}"; do traffic "$a" 40 --random || lf_die "baseline traffic on $a"; done
sleep 3

# stop_at_canary VERSION TRAFFIC_FLAGS... : deploys VERSION with a canary of 1 and a gate that
# needs 30 requests, sends that traffic to the canary once it runs the version, and checks the
# rollout reverts the canary and leaves the other 11 devices alone. Sets RID.
stop_at_canary() {
  local version=$1; shift
  lf_edgectl deploy model "mlp:$version" --site plant-a,plant-b,plant-c --canary 1 --waves 100% --soak 1s \
    --min-requests 30 --health-timeout 2m --wait --timeout 150s -o json >"$LF_DIR/$version.json" 2>"$LF_DIR/$version.txt" &
  local waiter=$!
  lf_wait_for 20 grep -q '"kind": *"wave_started"' "$LF_DIR/$version.json" || lf_die "$version: no wave started"
  RID=$(lf_edgectl get rollouts -o json | json 'max(r["id"] for r in d)')
  local canary
  canary_updated() { [ "$(rq "$RID" '[x["state"] for x in d["devices"] if x["wave"] == 0]')" = "['updated']" ]; }
  lf_wait_for 90 canary_updated || lf_die "$version: the canary did not update: $(lf_edgectl rollout describe "$RID" 2>&1)"
  canary=$(rq "$RID" '[x["id"] for x in d["devices"] if x["wave"] == 0][0]')
  traffic "$canary" 40 "$@"
  wait "$waiter"
  local rc=$?
  [ "$rc" -eq 1 ] || lf_die "$version: deploy --wait exited $rc, not 1: $(cat "$LF_DIR/$version.txt")"
  local r
  r=$(lf_edgectl rollout get "$RID" -o json)
  [ "$(json 'd["state"]' <<<"$r")" = reverted ] || lf_die "$version: not reverted: $r"
  [ "$(json 'd["wave"]' <<<"$r")" = 0 ] || lf_die "$version: went past the canary: $r"
  [ "$(json '[x["id"] for x in d["devices"] if x["dispatches"] > 0]' <<<"$r")" = "['$canary']" ] ||
    lf_die "$version: devices other than the canary $canary were dispatched: $r"
  [ "$(json '[x["state"] for x in d["devices"] if x["id"] == "'"$canary"'"][0]' <<<"$r")" = reverted ] ||
    lf_die "$version: canary not reverted: $r"
  serves_v2() { [ "$(infer_version "$canary" mlp --random)" = v2 ]; }
  lf_wait_for 30 serves_v2 || lf_die "$version: $canary does not serve v2 again"
  for s in "${sites[@]}"; do lf_site_on "$s" mlp v2 || lf_die "$version: site $s is not back on v2"; done
  GATE=$(json 'd["waves"][0]["gate"]' <<<"$r")
  ok "$version stopped at the canary $canary: $GATE; reverted; 11 devices untouched"
}

step "a version that passes its self-test but is much slower stops at the canary and is reverted"
# The float ResNet-8 as a new version of the MLP's model name: it passes its own self-test,
# loads and serves, and each inference takes milliseconds (the engine's float path is its
# scalar reference), thousands of times the int8 MLP's. (The int8 DS-CNN served here once; since the engine runs it in a few
# microseconds, it shares the MLP's lowest latency bucket and the gate cannot tell them apart.)
make_npy "$LF_DIR/img.npy" "(1, 3, 32, 32)" 3072 '\x00\x00\x00\x3f'
lf_edgectl bundle selftest --model "$zoo/resnet8.onnx" --input "$LF_DIR/img.npy" --out "$LF_DIR/slow.selftest.json" \
  2>/dev/null || lf_die "slow selftest"
make_model "$LF_DIR/v3.onnx" resnet8
lf_edgectl model push "$(lf_bundle mlp v3 1 "$LF_DIR/v3.onnx" --selftest "$LF_DIR/slow.selftest.json")" 2>/dev/null ||
  lf_die "push v3"
stop_at_canary v3 --random
expect_contains "p99" "$GATE"

step "a version that errors on real inputs stops at the canary and is reverted"
# The float MLP: it passes its self-test, but an input near the float range (a saturated
# sensor) overflows it to Inf, which the agent counts as a failed inference. The quantized
# incumbent clamps such inputs and answers.
make_npy "$LF_DIR/huge.npy" "(1, 64)" 64 '\xe6\xb1\x61\x7f'
lf_edgectl infer mlp --socket "$LF_DIR/gw-01/infer.sock" --input "$LF_DIR/huge.npy" >/dev/null 2>&1 ||
  lf_die "the incumbent v2 does not answer the saturated input"
mlp_selftest mlp_anomaly "$LF_DIR/float.selftest.json"
make_model "$LF_DIR/v4.onnx" mlp_anomaly
lf_edgectl model push "$(lf_bundle mlp v4 1 "$LF_DIR/v4.onnx" --selftest "$LF_DIR/float.selftest.json")" 2>/dev/null ||
  lf_die "push v4"
stop_at_canary v4 --input "$LF_DIR/huge.npy"
expect_contains "error" "$GATE"

step "get rollouts lists all four; describe shows the waves and the reason"
out=$(lf_edgectl get rollouts) || lf_die "get rollouts"
for want in completed reverted; do expect_contains "$want" "$out"; done
out=$(lf_edgectl rollout describe "$RID") || lf_die "describe"
expect_contains "error" "$out"
[ "$(head -n 1 <<<"$out")" = "Rollout:   $RID" ] || lf_die "describe's first line: $(head -n 1 <<<"$out")"
grep -q '^State:     reverted (wave 0 (canary): error rate' <<<"$out" || lf_die "describe's state line: $out"
! grep -q soaking <<<"$out" || lf_die "a stopped rollout shows a wave soaking: $out"
ok "listed and described"
echo "PASS"
