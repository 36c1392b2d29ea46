// Writes ONNX Runtime's outputs for the zoo's fixed inputs: <model>.golden.npy holds one
// output row per input sample. Usage: node golden.js [--as-written] ZOO_DIR MODEL.onnx...
// --as-written: QDQ models (*.qdq.onnx) run without graph optimizations, i.e. as the QDQ
// graph is written (each DequantizeLinear -> float op -> QuantizeLinear), not through ORT's
// fused int8 kernels. Those differ from the graph's meaning on some of the newer zoo models
// by more than one step (a dilated, strided depthwise QLinearConv by up to 24 steps; see
// docs/engine.md, "Model zoo"), so the goldens of those models are the graph's own outputs.
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, writeNpy } = require('./npy');

async function golden(zoo, file, asWritten) {
  const base = file.replace(/\.onnx$/, '');
  const name = base.replace(/\.qdq$/, '');
  const input = readNpy(path.join(zoo, `${name}.input.npy`));
  const session = await ort.InferenceSession.create(path.join(zoo, file), {
    intraOpNumThreads: 1, interOpNumThreads: 1,
    graphOptimizationLevel: asWritten && file.endsWith('.qdq.onnx') ? 'disabled' : 'all',
  });
  const samples = input.shape[0];
  const per = input.data.length / samples;
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const rows = [];
  let outShape = null;
  for (let s = 0; s < samples; ++s) {
    const x = new ort.Tensor('float32', input.data.slice(s * per, (s + 1) * per),
      [1, ...input.shape.slice(1)]);
    const result = await session.run({ [inName]: x });
    outShape = result[outName].dims;
    rows.push(...result[outName].data);
  }
  writeNpy(path.join(zoo, `${base}.golden.npy`), [samples, ...outShape.slice(1)], rows);
  console.log(`${file}: ${samples} samples, output ${JSON.stringify(outShape)}${asWritten ? ' (as written)' : ''}`);
}

(async () => {
  const args = process.argv.slice(2);
  const asWritten = args[0] === '--as-written';
  const [zoo, ...files] = asWritten ? args.slice(1) : args;
  for (const f of files) await golden(zoo, f, asWritten);
})().catch((e) => { console.error(e.message); process.exit(1); });
