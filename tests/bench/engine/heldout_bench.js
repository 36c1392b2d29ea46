// The held-out models (tests/models/make_heldout.py) timed the way run_bench.js times the zoo:
// the engine at auto (and the AVX2-class tiers), ORT fp32 and ORT int8 in interleaved rounds,
// single thread, pinned to one CPU, ORT's per-call floor subtracted per round below 50 us.
// Prints a table; writes nothing (the held-out models are not in the repository).
//
// Usage (from the repository root, after building edge_engine_bench and edge-model):
//   /usr/bin/python3 tests/models/make_heldout.py        # writes $HELDOUT_DIR (default /tmp/heldout)
//   (make_heldout3.py, make_heldout4.py, make_heldout5.py: the third to fifth sets, default
//   /tmp/heldout3, 4, 5)
//   for m in $HELDOUT_DIR/*.calib.npy; do n=${m%.calib.npy}; edge-model quantize $n.onnx \
//       --calibration $m --quantize-outputs --out $n.qdq.onnx; done
//   node tests/bench/engine/heldout_bench.js [--rounds N] [--per-round K] [--models a,b] [--tiers auto,avx2]
'use strict';
const fs = require('fs');
const { benchBin, args, opt, Engine, fmt, pct, interleavedRound, ortFloor, openModel } = require('./bench_common.js');

const dir = process.env.HELDOUT_DIR || '/tmp/heldout';
const ROUNDS = opt('--rounds', 20);
const PER_ROUND = opt('--per-round', 20);
const listArg = (name, def) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1].split(',') : def);
const TIERS = listArg('--tiers', ['auto']);
const MODELS = listArg('--models', fs.readdirSync(dir).filter((f) => f.endsWith('.qdq.onnx')).map((f) => f.slice(0, -9)).sort());

async function main() {
  if (!fs.existsSync(benchBin)) throw new Error(`${benchBin} missing: cmake --build --preset ci --target edge_engine_bench`);
  if (MODELS.length === 0) throw new Error(`no *.qdq.onnx in ${dir}: see the usage at the top of this file`);
  const engine = new Engine();
  const floor = await ortFloor(dir);
  let md = `| model | ${TIERS.map((t) => `engine ${t} us`).join(' | ')} | ORT fp32 us | ORT int8 us | ORT fp32 / auto | ORT int8 / auto |\n`;
  md += `|---|${TIERS.map(() => '---|').join('')}---|---|---|---|\n`;
  for (const name of MODELS) {
    const { inputFile, runners } = await openModel(engine, dir, name, floor);
    const s = { ort_fp32: [], ort_int8: [] };
    const above = { ort_fp32: [], ort_int8: [] };
    for (const t of TIERS) s[t] = [];
    for (let r = 0; r < ROUNDS; ++r) await interleavedRound(engine, name, TIERS, PER_ROUND, inputFile, runners, s, above);
    const e = pct(s[TIERS.includes('auto') ? 'auto' : TIERS[0]], 0.5);
    const ratio = (key) => {
      const o = pct(s[key], 0.5);
      return `${((o < 50 ? pct(above[key], 0.5) : o) / e).toFixed(2)}x`;
    };
    md += `| ${name} | ${TIERS.map((t) => fmt(pct(s[t], 0.5))).join(' | ')} | ${fmt(pct(s.ort_fp32, 0.5))} | `;
    md += `${fmt(pct(s.ort_int8, 0.5))} | ${ratio('ort_fp32')} | ${ratio('ort_int8')} |\n`;
    process.stderr.write(`${name}: done\n`);
  }
  engine.close();
  process.stdout.write(md);
}

main().catch((e) => { console.error(e.message); process.exit(1); });
