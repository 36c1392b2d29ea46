// Shared by the engine benchmark scripts: paths, flags, the engine driver (edge_engine_bench
// serve, a line protocol) and ONNX Runtime sessions timed the same way.
'use strict';
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const readline = require('readline');

const root = path.resolve(__dirname, '../../..');
const zoo = path.join(root, 'tests/models/zoo');
const ortDir = path.join(root, 'tests/models/ort/node_modules/onnxruntime-node');
const ort = require(ortDir);
const { readNpy } = require(path.join(root, 'tests/models/ort/npy.js'));
const benchBin = path.join(root, 'build/ci/tests/bench/engine/edge_engine_bench');
const ortVersion = require(path.join(ortDir, 'package.json')).version;

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const WRITE = !args.includes('--no-write');

// Node (every thread: ORT runs on a libuv worker) and the engine process, which inherits it,
// pinned to one CPU, the first this process may use, for every script that loads this module.
// The timed runs take turns (node's own background threads, GC and the like, now share that
// CPU with the engine while it times itself), and on a shared VM the vCPUs can be loaded
// differently for minutes: in one run the engine's times were ~1.4x those of the run after it
// while ORT's held, so the interleaving compares like with like only on one CPU. null where
// taskset (util-linux) is missing or refuses (if it fails partway some threads may be pinned).
function pinToOneCpu() {
  try {
    const pid = String(process.pid);
    const list = execFileSync('taskset', ['-cp', pid], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const first = list.slice(list.lastIndexOf(':') + 1).trim().split(/[,-]/)[0];
    execFileSync('taskset', ['-a', '-cp', first, pid], { stdio: 'ignore' });
    return Number(first);
  } catch (e) {
    return null;
  }
}
const pinnedCpu = pinToOneCpu();

class Engine {
  constructor() {
    this.proc = spawn(benchBin, ['serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.proc.stdout });
    this.waiting = [];
    this.lines.on('line', (l) => this.waiting.shift()(l));
  }
  ask(cmd) {
    return new Promise((resolve) => { this.waiting.push(resolve); this.proc.stdin.write(cmd + '\n'); });
  }
  async load(id, file) {
    const r = await this.ask(`load ${id} ${file}`);
    if (r !== 'ok') throw new Error(`engine load ${file}: ${r}`);
  }
  // n timed runs in microseconds; batch > 1 runs a batch-dynamic model on that many samples.
  async run(id, tier, n, input, batch = 1) {
    const r = await this.ask(batch === 1 ? `run ${id} ${tier} ${n} ${input}` : `runb ${id} ${tier} ${n} ${batch} ${input}`);
    if (!r.startsWith('ns')) throw new Error(`engine run ${id}: ${r}`);
    return r.split(' ').slice(1).map((v) => Number(v) / 1000);
  }
  close() { this.proc.stdin.end('quit\n'); }
}

async function ortSession(file) {
  return ort.InferenceSession.create(file, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
}

async function timeOrt(session, feeds, n) {
  const t = [];
  for (let i = 0; i < n; ++i) {
    const s = process.hrtime.bigint();
    await session.run(feeds);
    t.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  return t;
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

// One interleaved round: the engine at each tier, then ORT's floor, fp32, int8 and the floor
// again, n runs each. Appends to samples[tier], samples.ort_fp32 / ort_int8 and to
// above.ort_fp32 / ort_int8 (this round's ORT p50 minus this round's floor p50); returns the
// round's floor times. ort: { floor, fp32, int8 } as [session, feeds] pairs.
async function interleavedRound(engine, id, tiers, n, inputFile, ort, samples, above) {
  for (const t of tiers) samples[t].push(...await engine.run(id, t, n, inputFile));
  const floorRound = await timeOrt(...ort.floor, n);
  const f = await timeOrt(...ort.fp32, n);
  const q = await timeOrt(...ort.int8, n);
  floorRound.push(...await timeOrt(...ort.floor, n));
  const roundFloor = pct(floorRound, 0.5);
  above.ort_fp32.push(pct(f, 0.5) - roundFloor);
  above.ort_int8.push(pct(q, 0.5) - roundFloor);
  samples.ort_fp32.push(...f);
  samples.ort_int8.push(...q);
  return floorRound;
}

// ORT's per-call floor: one Relu on 4 floats (DIR/ort_floor.onnx), warmed up: [session, feeds].
async function ortFloor(dir) {
  const session = await ortSession(path.join(dir, 'ort_floor.onnx'));
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(4), [1, 4]) };
  await timeOrt(session, feeds, 200);
  return [session, feeds];
}

// Model NAME of DIR for interleavedRound: the engine loads NAME.qdq.onnx as NAME, ORT sessions
// of NAME.onnx and NAME.qdq.onnx run on the first sample of NAME.input.npy (warmed up).
// Returns { inputFile, runners } with `floor` (ortFloor's pair) among the runners.
// A model of several inputs reads NAME.input.npy for its first and NAME.INPUT.input.npy for
// each other (tests/models/make_heldout.py's layout); the engine gets them as one
// comma-separated list. Integer inputs are stored as float32 and fed to ORT as their type.
async function openModel(engine, dir, name, floor) {
  const fp32 = await ortSession(path.join(dir, `${name}.onnx`));
  const int8 = await ortSession(path.join(dir, `${name}.qdq.onnx`));
  const files = fp32.inputNames.map((n, i) => path.join(dir, i === 0 ? `${name}.input.npy` : `${name}.${n}.input.npy`));
  const feeds = {};
  fp32.inputNames.forEach((n, i) => {
    const input = readNpy(files[i]);
    const per = input.data.length / input.shape[0];
    const first = input.data.slice(0, per), shape = [1, ...input.shape.slice(1)];
    const type = fp32.inputMetadata ? fp32.inputMetadata[i].type : 'float32';
    feeds[n] = type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(first, (v) => BigInt(Math.round(v))), shape)
             : type === 'int32' ? new ort.Tensor('int32', Int32Array.from(first, (v) => Math.round(v)), shape)
             : new ort.Tensor('float32', first, shape);
  });
  const inputFile = files.join(',');
  await engine.load(name, path.join(dir, `${name}.qdq.onnx`));
  const runners = { floor, fp32: [fp32, feeds], int8: [int8, feeds] };
  await timeOrt(...runners.fp32, 20);
  await timeOrt(...runners.int8, 20);
  return { inputFile, runners };
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

module.exports = {
  root, zoo, ort, ortVersion, readNpy, benchBin, args, opt, WRITE, pinnedCpu, Engine, ortSession, timeOrt, fmt, pct, interleavedRound, ortFloor, openModel,
};
