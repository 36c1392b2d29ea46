// Writes ONNX Runtime's outputs for models of several inputs and outputs: for MODEL.onnx it
// feeds MODEL.in<k>.npy as the k-th input (float32 files; an integer input is converted to its
// type) and writes its k-th output as MODEL.out<k>.npy.
// Usage: node golden_io.js DIR MODEL.onnx...
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, writeNpy } = require('./npy');

const kIntegerArrays = { int32: Int32Array, int64: BigInt64Array };

async function golden(dir, file) {
  const base = path.join(dir, file.replace(/\.onnx$/, ''));
  const session = await ort.InferenceSession.create(path.join(dir, file), {
    intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const feeds = {};
  session.inputMetadata.forEach((meta, k) => {
    const a = readNpy(`${base}.in${k}.npy`);
    const Ints = kIntegerArrays[meta.type];
    const data = Ints ? Ints.from(a.data, (v) => (Ints === BigInt64Array ? BigInt(v) : v)) : a.data;
    feeds[meta.name] = new ort.Tensor(meta.type, data, a.shape);
  });
  const result = await session.run(feeds);
  session.outputNames.forEach((name, k) => {
    writeNpy(`${base}.out${k}.npy`, result[name].dims, result[name].data);
  });
  console.log(`${file}: ${session.outputNames.length} outputs`);
}

(async () => {
  const [dir, ...files] = process.argv.slice(2);
  for (const f of files) await golden(dir, f);
})().catch((e) => { console.error(e.message); process.exit(1); });
