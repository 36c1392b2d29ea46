#!/usr/bin/env bash
# Regenerates the committed model zoo: fp32 models (torch), QDQ models (our quantizer) and
# ONNX Runtime goldens (npm onnxruntime-node). Needs Debian's python3-torch, python3-onnx and
# python3-numpy (apt-get install -y python3-torch python3-onnx python3-numpy; dev tools only,
# tests/run.sh does not need them), node/npm, and a built edge-model
# (cmake --build --preset ci --target edge-model).
# Usage: tests/models/build_zoo.sh [path/to/edge-model] [MODEL...]
#   With model names, only those are rebuilt (their .onnx, data, .qdq.onnx and goldens); the
#   others' committed files are left alone. The recordings the cross-architecture test checks
#   (*.engine.npy) are refreshed separately, see tests/unit/engine/cross_arch_test.cpp.
# The int8 models quantize their outputs too (--quantize-outputs): the zoo's golden test
# compares int8 outputs in steps of the output's quantization.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
edge_model="$root/build/ci/agent/engine/cli/edge-model"
if [ $# -gt 0 ] && [ -f "$1" ]; then edge_model="$1"; shift; fi
# The first six's QDQ goldens come from ORT's fused int8 kernels; the newer ones' from the QDQ
# graph as written (golden.js --as-written says why).
fused=(mlp_anomaly sensor_conv1d ds_cnn_kws resnet8 mobilenet_v2_block op_mix)
all=("${fused[@]}" multiscale_concat gated_tcn tiny_transformer wide_mlp_softmax reshape_reduce odd_strides)
if [ $# -gt 0 ]; then models=("$@"); else models=("${all[@]}"); fi

if [ $# -gt 0 ]; then
  /usr/bin/python3 "$here/make_zoo.py" "${models[@]}"
else
  /usr/bin/python3 "$here/make_zoo.py"
fi
for m in "${models[@]}"; do
  "$edge_model" quantize "$here/zoo/$m.onnx" --calibration "$here/zoo/$m.calib.npy" \
    --out "$here/zoo/$m.qdq.onnx" --quantize-outputs --force
done
if [ ! -d "$here/ort/node_modules/onnxruntime-node" ]; then
  (cd "$here/ort" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund)
fi
fused_files=() written_files=()
for m in "${models[@]}"; do
  if [[ " ${fused[*]} " == *" $m "* ]]; then fused_files+=("$m.onnx" "$m.qdq.onnx"); else written_files+=("$m.onnx" "$m.qdq.onnx"); fi
done
if [ ${#fused_files[@]} -gt 0 ]; then
  node "$here/ort/golden.js" "$here/zoo" "${fused_files[@]}" 2> >(grep -v CleanUnusedInitializers >&2)
fi
if [ ${#written_files[@]} -gt 0 ]; then
  node "$here/ort/golden.js" --as-written "$here/zoo" "${written_files[@]}" 2> >(grep -v CleanUnusedInitializers >&2)
fi
