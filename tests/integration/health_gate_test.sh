#!/usr/bin/env bash
# Every version must pass the health gate on the device before it serves: a self-test that
# does not match, a latency budget the device cannot meet and a model that does not load are
# each rolled back automatically, the old version keeps serving, and the controller shows why.
source "$(dirname "$0")/lib.sh"
ZOO="$here/../models/zoo"

one_agent_fleet

# selftest_bundle NAME VERSION SV MODEL SELFTEST [more bundle build flags] → signed bundle dir
selftest_bundle() {
  local dir="$LF_DIR/bundles/$1-$2"
  lf_edgectl bundle build --name "$1" --version "$2" --security-version "$3" --model "$4" --selftest "$5" \
    --out "$dir" "${@:6}" 2>/dev/null || lf_die "bundle build $1:$2"
  lf_edgectl bundle sign "$dir" --key "$LF_DIR/pki/release-1.key" 2>/dev/null || lf_die "bundle sign $1:$2"
  echo "$dir"
}

step "a bundle whose self-test matches its model activates"
lf_edgectl bundle selftest --model "$ZOO/ds_cnn_kws.qdq.onnx" --input "$ZOO/ds_cnn_kws.input.npy" \
  --out "$LF_DIR/good-selftest.json" 2>/dev/null || lf_die "bundle selftest"
b1=$(selftest_bundle kws v1 1 "$ZOO/ds_cnn_kws.qdq.onnx" "$LF_DIR/good-selftest.json")
lf_edgectl model push "$b1" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "v1 did not activate"
grep -q '"health gate passed"' "$LF_DIR/gw-1.log" || lf_die "no health gate ran for v1"
[ "$(infer_version gw-1 kws --random)" = v1 ] || lf_die "v1 does not answer"
ok "v1 passed its self-test on the device, is current and answers"

still_v1() {  # the old version is current, serves, and the controller shows rolled_back
  [ "$(readlink "$LF_DIR/gw-1/models/kws/current")" = v1 ] || lf_die "current is no longer v1"
  [ "$(infer_version gw-1 kws --random)" = v1 ] || lf_die "v1 no longer answers"
  state_is gw-1 rolled_back || lf_die "state is $(device_state gw-1), not rolled_back"
}

step "a bundle whose self-test does not match is refused at activation"
# Expected outputs of the fp32 model, shipped with the int8 model at tolerance 0.
lf_edgectl bundle selftest --model "$ZOO/ds_cnn_kws.onnx" --input "$ZOO/ds_cnn_kws.input.npy" \
  --out "$LF_DIR/fp32-selftest.json" 2>/dev/null || lf_die "bundle selftest fp32"
# bundle build refuses it (the same check, on the build host); --skip-model-checks gets it to
# the device, whose own gate is what this step tests.
expect_fail 1 "fails on model" lf_edgectl bundle build --name kws --version v2 --security-version 2 \
  --model "$ZOO/ds_cnn_kws.qdq.onnx" --selftest "$LF_DIR/fp32-selftest.json" --out "$LF_DIR/refused-v2"
[ ! -e "$LF_DIR/refused-v2" ] || lf_die "a refused build left $LF_DIR/refused-v2"
b2=$(selftest_bundle kws v2 2 "$ZOO/ds_cnn_kws.qdq.onnx" "$LF_DIR/fp32-selftest.json" --skip-model-checks)
lf_edgectl model push "$b2" 2>/dev/null || lf_die "push v2"
expect_fail 1 "failed to install" lf_edgectl deploy model kws:v2 --all-at-once --site plant-7 --wait --timeout 60s
expect_contains "health gate step 'selftest'" "$(lf_edgectl describe device gw-1)"
still_v1
ok "v2 refused with the reason shown by the controller; v1 still current"

step "a latency budget the device cannot meet is refused at activation"
d3="$LF_DIR/bundles/kws-v3"
lf_edgectl bundle build --name kws --version v3 --security-version 3 --model "$ZOO/ds_cnn_kws.qdq.onnx" \
  --selftest "$LF_DIR/good-selftest.json" --latency-budget-us 1 --out "$d3" 2>/dev/null || lf_die "bundle build v3"
lf_edgectl bundle sign "$d3" --key "$LF_DIR/pki/release-1.key" 2>/dev/null || lf_die "sign v3"
lf_edgectl model push "$d3" 2>/dev/null || lf_die "push v3"
expect_fail 1 "failed to install" lf_edgectl deploy model kws:v3 --all-at-once --site plant-7 --wait --timeout 60s
expect_contains "health gate step 'latency'" "$(lf_edgectl describe device gw-1)"
still_v1
ok "v3 refused for its latency budget; v1 still current"
step "a model that does not load is refused at activation"
head -c 5000 /dev/urandom >"$LF_DIR/garbage.onnx"
expect_fail 1 "model does not load: loading $LF_DIR/garbage.onnx" lf_edgectl bundle build --name kws --version v4 \
  --security-version 4 --model "$LF_DIR/garbage.onnx" --out "$LF_DIR/refused-v4"
[ ! -e "$LF_DIR/refused-v4" ] || lf_die "a refused build left $LF_DIR/refused-v4"
b4=$(selftest_bundle kws v4 4 "$LF_DIR/garbage.onnx" "$LF_DIR/good-selftest.json" --skip-model-checks)
expect_fail 1 "kws:v4 is signed and its blobs verify, but every device would refuse it" lf_edgectl bundle verify "$b4" \
  --trust-policy "$LF_DIR/pki/trust-policy.json" --root-key "$LF_DIR/pki/release-root.pub"
lf_edgectl model push "$b4" 2>/dev/null || lf_die "push v4"
expect_fail 1 "failed to install" lf_edgectl deploy model kws:v4 --all-at-once --site plant-7 --wait --timeout 60s
expect_contains "health gate step 'load'" "$(lf_edgectl describe device gw-1)"
still_v1
ok "v4 refused: its model does not load; v1 still current"
echo "PASS"
