// Writes ONNX Runtime's outputs for the zoo's fixed inputs: <model>.golden.npy holds one
// output row per input sample. Usage: node golden.js ZOO_DIR MODEL.onnx...
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, writeNpy } = require('./npy');

async function golden(zoo, file) {
  const base = file.replace(/\.onnx$/, '');
  const name = base.replace(/\.qdq$/, '');
  const input = readNpy(path.join(zoo, `${name}.input.npy`));
  const session = await ort.InferenceSession.create(path.join(zoo, file), {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
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
  console.log(`${file}: ${samples} samples, output ${JSON.stringify(outShape)}`);
}

(async () => {
  const [zoo, ...files] = process.argv.slice(2);
  for (const f of files) await golden(zoo, f);
})().catch((e) => { console.error(e.message); process.exit(1); });
