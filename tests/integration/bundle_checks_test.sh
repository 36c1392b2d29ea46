#!/usr/bin/env bash
# Build-time checks, offline (no controller, no agent): edgectl bundle build refuses a model
# that does not load and a self-test that is not the model's, naming the file and the problem,
# and leaves no output; bundle verify says so of a bundle built with --skip-model-checks; model
# quantize refuses an already-quantized model unless --requantize.
source "$(dirname "$0")/lib.sh"
ZOO="$here/../models/zoo"
lf_pki

build() {  # OUT MODEL [more bundle build flags]
  lf_edgectl bundle build --name kws --version v1 --security-version 1 --out "$1" --model "$2" "${@:3}"
}
refused() {  # PHRASE OUT MODEL [flags]: exit 1, the phrase, and no OUT afterwards
  expect_fail 1 "$1" build "${@:2}"
  [ ! -e "$2" ] || lf_die "a refused build left $2"
}

step "bundle build refuses models that do not load"
head -c 4096 /dev/urandom >"$LF_DIR/garbage.onnx"
refused "model does not load: loading $LF_DIR/garbage.onnx: not a valid ONNX model" "$LF_DIR/b1" "$LF_DIR/garbage.onnx"
head -c 6000 "$ZOO/ds_cnn_kws.qdq.onnx" >"$LF_DIR/truncated.onnx"
refused "loading $LF_DIR/truncated.onnx: not a valid ONNX model" "$LF_DIR/b2" "$LF_DIR/truncated.onnx"

step "bundle build refuses self-tests that are not the model's"
lf_edgectl bundle selftest --model "$ZOO/ds_cnn_kws.qdq.onnx" --input "$ZOO/ds_cnn_kws.input.npy" \
  --out "$LF_DIR/kws.json" 2>/dev/null || lf_die "bundle selftest kws"
mlp_selftest mlp_anomaly.qdq "$LF_DIR/mlp.json"
echo 'not json' >"$LF_DIR/text.json"
refused "invalid JSON" "$LF_DIR/b3" "$ZOO/ds_cnn_kws.qdq.onnx" --selftest "$LF_DIR/text.json"
refused "not a self-test for model $ZOO/ds_cnn_kws.qdq.onnx: $LF_DIR/mlp.json" "$LF_DIR/b4" \
  "$ZOO/ds_cnn_kws.qdq.onnx" --selftest "$LF_DIR/mlp.json"

step "a good model and its self-test build"
out=$(build "$LF_DIR/good" "$ZOO/ds_cnn_kws.qdq.onnx" --selftest "$LF_DIR/kws.json" 2>&1) || lf_die "build: $out"
expect_contains "model loads and passes its self-test" "$out"
ok "$out"

step "--skip-model-checks builds a bad model (for device-side tests); verify names the problem"
out=$(build "$LF_DIR/skipped" "$LF_DIR/garbage.onnx" --skip-model-checks 2>&1) || lf_die "build: $out"
expect_contains "warning: --skip-model-checks" "$out"
lf_edgectl bundle build --help | grep -q -- --skip-model-checks && lf_die "--skip-model-checks shows in --help"
lf_edgectl bundle sign "$LF_DIR/skipped" --key "$LF_DIR/pki/release-1.key" 2>/dev/null || lf_die "sign"
expect_fail 1 "is signed and its blobs verify, but every device would refuse it: model does not load" \
  lf_edgectl bundle verify "$LF_DIR/skipped" --trust-policy "$LF_DIR/pki/trust-policy.json" \
  --root-key "$LF_DIR/pki/release-root.pub"

step "model quantize refuses an already-quantized model unless --requantize"
expect_fail 1 "already quantized: .*DequantizeLinear.*--requantize" lf_edgectl model quantize \
  "$ZOO/mlp_anomaly.qdq.onnx" --calibration "$ZOO/mlp_anomaly.calib.npy" --out "$LF_DIR/again.onnx"
[ ! -e "$LF_DIR/again.onnx" ] || lf_die "a refused quantize wrote its output"
lf_edgectl model quantize "$ZOO/mlp_anomaly.qdq.onnx" --calibration "$ZOO/mlp_anomaly.calib.npy" \
  --out "$LF_DIR/again.onnx" --requantize >/dev/null || lf_die "quantize --requantize"
ok "--requantize wrote $(stat -c %s "$LF_DIR/again.onnx") bytes"
echo "PASS"
