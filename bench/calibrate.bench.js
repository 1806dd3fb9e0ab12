'use strict';
/**
 * Calibration memory and speed on the fixture CNN.
 *  - A synthetic 1,024-sample calibration .npy (the 256 fixture images, each
 *    repeated 4× with a seeded ±2% brightness jitter) is written to a temp folder.
 *  - Two workloads: the tensors planQdq picks on cnn.onnx as shipped (BatchNormalization
 *    unfolded, so the calibration model exposes Conv outputs and onnxruntime cannot fuse
 *    Conv+BN), and the tensors `mc quantize --calib` really calibrates (after
 *    prepareForStaticInt8: BN folded; channel padding comes after calibration).
 *  - For each, for 64 and 1,024 samples, a fresh process calibrates those tensors (minmax;
 *    percentile, entropy and mse: 2,048-bin histograms), printing peak RSS
 *    (process.resourceUsage().maxRSS) and time, and the time of plain inference of the
 *    same model over the same batches (same threads, batch 32). Memory must not grow with
 *    the sample count; the time ratio is calibration / inference.
 *    Each row is the median of 3 fresh processes (peak RSS: the largest).
 *  - Histogram methods run twice: binning on the main thread ('main') and in the
 *    observer worker thread, overlapped with onnxruntime ('worker').
 *  - One statistics pass against four calibrations: collectStatistics with every
 *    kind (batch ranges, histograms of x and |x|) once, then the ranges of all four
 *    methods derived (rangesFrom), against calibrate() run once per method; 1,024
 *    samples, the `mc quantize --calib` tensors, median of 3 fresh processes, printed
 *    as a ratio. `node bench/calibrate.bench.js --one-pass` runs only this part.
 *  - Threads: 1 by default; `node bench/calibrate.bench.js --threads N` (or
 *    MC_BENCH_THREADS=N) for both inference and calibration; 0 = every core for inference and
 *    calibrate's default threads (every core, but one when the worker bins).
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const FIX = path.join(ROOT, 'fixtures');

/** The model to calibrate and the tensors to observe: the fixture CNN as is, or as quantizeStatic prepares it. */
function workload(flow) {
  const { loadOnnx } = require(path.join(ROOT, 'dist', 'formats', 'onnx'));
  const S = require(path.join(ROOT, 'dist', 'passes', 'quantize', 'static'));
  const model = loadOnnx(path.join(FIX, 'cnn.onnx'));
  let plan;
  if (flow === 'static') {
    // BatchNormalization folded: the graph `mc quantize --calib` calibrates (it pads channels only afterwards).
    const opts = S.resolveStaticOptions({});
    const prepared = S.prepareForStaticInt8(model, opts, 'bench');
    plan = S.planQdq(model.graph, { ...opts, originalOpType: prepared.originalOpType });
  } else {
    plan = S.planQdq(model.graph, { exclude: [] });
  }
  return { model, names: [...plan.tensors].filter(([t, s]) => t === s).map(([t]) => t.name) };
}

async function child(file, samples, method, flow, observeIn, threadArg) {
  const { encodeOnnx } = require(path.join(ROOT, 'dist', 'formats', 'onnx'));
  const { calibrate } = require(path.join(ROOT, 'dist', 'calibrate'));
  const { openDataset } = require(path.join(ROOT, 'dist', 'data'));
  const { OrtRunner } = require(path.join(ROOT, 'dist', 'runtime'));
  const { model, names } = workload(flow);
  const threads = threadArg > 0 ? threadArg : Math.max(1, os.availableParallelism());
  // Plain inference of the same model over the same batches, for the ratio.
  const runner = await OrtRunner.create(encodeOnnx(model), { threads });
  const input = runner.inputs[0].name;
  const ds = openDataset(file, { inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 1, 28, 28] }] });
  let t0 = process.hrtime.bigint();
  for (const b of ds.batches(32, samples)) await runner.run(new Map([[input, b.inputs.get('input')]]));
  const inferS = Number(process.hrtime.bigint() - t0) / 1e9;
  await runner.dispose();
  t0 = process.hrtime.bigint();
  const r = await calibrate(model, names, file, { method, samples, batchSize: 32, threads: threadArg > 0 ? threadArg : undefined, observeIn });
  const calibS = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ samples: r.samples, tensors: names.length, calibS, inferS, rssMiB: process.resourceUsage().maxRSS / 1024 }));
}

/** One statistics pass (all kinds) + four rangesFrom, against four calibrate() runs; times in seconds. */
async function onePassChild(file, samples, threadArg) {
  const { calibrate, collectStatistics, rangesFrom } = require(path.join(ROOT, 'dist', 'calibrate'));
  const { model, names } = workload('static');
  const threads = threadArg > 0 ? threadArg : undefined;
  const o = { samples, batchSize: 32, threads, observeIn: 'main' };
  const R = { percentile: 99.999, qmin: -128, qmax: 127 };
  const methods = ['minmax', 'percentile', 'entropy', 'mse'];
  let t0 = process.hrtime.bigint();
  let separateS = 0;
  for (const method of methods) await calibrate(model, names, file, { ...o, ...R, method });
  separateS = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  const stats = await collectStatistics(model, names, file, o);
  const collectS = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  for (const method of methods) rangesFrom(stats, method, R);
  const deriveS = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ samples: stats.samples, tensors: names.length, separateS, collectS, deriveS }));
}

function onePass(file, threads) {
  console.log('\none statistics pass (all kinds) + ranges of the 4 methods vs 4 separate calibrations (binning on the main thread)');
  const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(process.execPath, [__filename, '--one-pass-child', file, '1024', String(threads)], { encoding: 'utf8' }).trim().split('\n').pop()));
  const med = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[1];
  const one = med('collectS') + med('deriveS');
  console.log(`  ${runs[0].samples} samples, ${runs[0].tensors} tensors: 4 separate ${med('separateS').toFixed(3)} s; one pass ${med('collectS').toFixed(3)} s + ranges ${med('deriveS').toFixed(3)} s = ${one.toFixed(3)} s; one pass / separate = ${(one / med('separateS')).toFixed(2)}`);
}

function main() {
  const ti = process.argv.indexOf('--threads');
  const threads = Number(ti > 0 ? process.argv[ti + 1] : process.env.MC_BENCH_THREADS ?? 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-calib-bench-'));
  try {
    const src = fs.readFileSync(path.join(FIX, 'calib-x.npy'));
    const hlen = src.readUInt16LE(8) + 10;
    const x = new Float32Array(src.buffer.slice(src.byteOffset + hlen, src.byteOffset + src.byteLength));
    const n = 1024;
    const out = new Float32Array(n * 784);
    let a = 7;
    for (let r = 0; r < 4; r++) {
      for (let i = 0; i < x.length / 784; i++) {
        a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
        const gain = 1 + ((a / 2 ** 32) - 0.5) * 0.04;
        for (let k = 0; k < 784; k++) out[(r * 256 + i) * 784 + k] = Math.min(1, x[i * 784 + k] * gain);
      }
    }
    const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, 1, 28, 28), }`;
    const pad = (64 - ((10 + dict.length + 1) % 64)) % 64;
    const header = Buffer.from(dict + ' '.repeat(pad) + '\n', 'latin1');
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
    const file = path.join(dir, 'calib-1024.npy');
    fs.writeFileSync(file, Buffer.concat([pre, header, Buffer.from(out.buffer)]));
    console.log(`fixture CNN, batch 32, ${threads > 0 ? threads : `${os.availableParallelism()} (every core)`} onnxruntime thread(s); times exclude session creation for inference, include it for calibration`);
    onePass(file, threads);
    if (process.argv.includes('--one-pass')) return;
    const flows = [
      ['plan', 'tensors planQdq picks on the graph as shipped (BatchNormalization unfolded: Conv outputs exposed)'],
      ['static', 'tensors `mc quantize --calib` calibrates (BatchNormalization folded, before channel padding)'],
    ];
    for (const [flow, what] of flows) {
      console.log(`\n${what}`);
      console.log('method     binning  samples  calib s  infer s  ratio  peak RSS');
      for (const method of ['minmax', 'percentile', 'entropy', 'mse']) {
        for (const [observeIn, samples] of (method === 'minmax' ? ['-'] : ['main', 'worker']).flatMap((o) => [[o, 64], [o, 1024]])) {
          // The machine is shared: 3 fresh processes, median time of each column.
          const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(process.execPath, [__filename, '--child', file, String(samples), method, flow, observeIn, String(threads)], { encoding: 'utf8' }).trim().split('\n').pop()));
          const med = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[1];
          const o = { samples: runs[0].samples, calibS: med('calibS'), inferS: med('inferS'), rssMiB: Math.max(...runs.map((r) => r.rssMiB)) };
          console.log(`${method.padEnd(10)} ${observeIn.padEnd(7)} ${String(o.samples).padStart(8)} ${o.calibS.toFixed(3).padStart(8)} ${o.inferS.toFixed(3).padStart(8)} ${(o.calibS / o.inferS).toFixed(2).padStart(6)}  ${o.rssMiB.toFixed(1)} MiB`);
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--one-pass-child') onePassChild(process.argv[3], Number(process.argv[4]), Number(process.argv[5])).catch((e) => { console.error(e); process.exit(1); });
else if (process.argv[2] === '--child') child(process.argv[3], Number(process.argv[4]), process.argv[5], process.argv[6], process.argv[7] === '-' ? undefined : process.argv[7], Number(process.argv[8])).catch((e) => { console.error(e); process.exit(1); });
else main();
