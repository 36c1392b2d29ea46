#!/usr/bin/env bash
# Regenerates the committed model zoo: fp32 models (torch), QDQ models (our quantizer) and
# ONNX Runtime goldens (npm onnxruntime-node). Needs python3-torch, python3-onnx,
# python3-numpy, node/npm, and a built edge-model (cmake --build --preset ci --target edge-model).
# Usage: tests/models/build_zoo.sh [path/to/edge-model]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
edge_model="${1:-$root/build/ci/agent/engine/cli/edge-model}"
models=(mlp_anomaly sensor_conv1d ds_cnn_kws resnet8 mobilenet_v2_block op_mix)

/usr/bin/python3 "$here/make_zoo.py"
for m in "${models[@]}"; do
  "$edge_model" quantize "$here/zoo/$m.onnx" --calibration "$here/zoo/$m.calib.npy" \
    --out "$here/zoo/$m.qdq.onnx"
done
if [ ! -d "$here/ort/node_modules/onnxruntime-node" ]; then
  (cd "$here/ort" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund)
fi
files=()
for m in "${models[@]}"; do files+=("$m.onnx" "$m.qdq.onnx"); done
node "$here/ort/golden.js" "$here/zoo" "${files[@]}" 2> >(grep -v CleanUnusedInitializers >&2)
