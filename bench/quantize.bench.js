'use strict';
/**
 * Quantize throughput and dynamic-int8 speed.
 *  1. A 256 MiB float32 model (16 MatMul layers of 2048×2048) is written to a
 *     temp folder, then `quantize` (load + quantize + save) runs in a fresh
 *     process for int8 and int4: MB/s over the float32 input bytes, and peak
 *     RSS (process.resourceUsage().maxRSS) against the model size.
 *  2. A MatMul-heavy model (4 × 1024×1024, batch 64) in onnxruntime: float32
 *     vs --mode dynamic int8, median latency of 30 runs after 5 warm-ups,
 *     one intra-op thread.
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const mc = require(path.join(__dirname, '..', 'dist', 'api.js'));
const { saveOnnx, encodeOnnx } = require(path.join(__dirname, '..', 'dist', 'formats', 'onnx'));
const { quantizePass, resolveQuantizeOptions, runPass } = require(path.join(__dirname, '..', 'dist', 'passes'));

const MiB = 1024 * 1024;

function rand(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * 0.05;
  }
  return out;
}

/** x[batch, d] → layers × (MatMul d×d → Relu) → y. */
function matmulStack(layers, d) {
  const g = new mc.Graph();
  g.name = 'stack';
  let cur = new mc.Value('x', { dtype: 'float32', shape: ['batch', d] });
  g.inputs.push(cur);
  for (let l = 0; l < layers; l++) {
    const w = g.addInitializer(`w${l}`, mc.Tensor.fromArray('float32', [d, d], rand(d * d, l + 1), `w${l}`));
    const h = new mc.Value(`h${l}`, { dtype: 'float32' });
    const r = new mc.Value(l === layers - 1 ? 'y' : `r${l}`, { dtype: 'float32' });
    g.addNode(new mc.Node({ opType: 'MatMul', name: `mm${l}`, inputs: [cur, w], outputs: [h] }));
    g.addNode(new mc.Node({ opType: 'Relu', name: `relu${l}`, inputs: [h], outputs: [r] }));
    cur = r;
  }
  g.outputs.push(cur);
  const m = new mc.Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

async function latency(bytes, x, d, runs = 30) {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const feeds = { x: new ort.Tensor('float32', x, [x.length / d, d]) };
  for (let i = 0; i < 5; i++) await s.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await s.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await s.release();
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-bench-'));
  try {
    const input = path.join(tmp, 'big.onnx');
    {
      const m = matmulStack(16, 2048);
      saveOnnx(m, input);
    }
    if (global.gc) global.gc();
    const fileBytes = fs.statSync(input).size;
    console.log(`quantize: model ${(fileBytes / MiB).toFixed(1)} MiB (16 × MatMul 2048×2048 float32)`);
    for (const bits of [8, 4]) {
      const out = path.join(tmp, `big.int${bits}.onnx`);
      const line = execFileSync(process.execPath, [path.join(__dirname, 'quantize-child.js'), input, out, String(bits)], { encoding: 'utf8' });
      const r = JSON.parse(line.trim().split('\n').pop());
      const mbps = fileBytes / MiB / r.seconds;
      console.log(`  int${bits}: ${r.seconds.toFixed(2)} s, ${mbps.toFixed(0)} MiB/s (target ≥ 200), peak RSS ${(r.maxRssBytes / MiB).toFixed(0)} MiB = ${(r.maxRssBytes / fileBytes).toFixed(2)}× model (target ≤ 2), output ${(r.sizeAfter / MiB).toFixed(1)} MiB`);
      fs.rmSync(out, { force: true });
    }
    fs.rmSync(input, { force: true });

    const d = 1024;
    const small = matmulStack(4, d);
    const fp32 = encodeOnnx(small);
    runPass(quantizePass(resolveQuantizeOptions({ bits: 8, mode: 'dynamic' })), small, { toolVersion: mc.VERSION });
    const dyn = encodeOnnx(small);
    const x = rand(64 * d, 99).map((v) => v * 20);
    const tf = await latency(fp32, x, d);
    const ti = await latency(dyn, x, d);
    console.log(`dynamic int8 vs float32 (onnxruntime-node CPU, 1 thread, 4 × MatMul ${d}×${d}, batch 64, median of 30):`);
    console.log(`  float32 ${tf.toFixed(2)} ms, dynamic int8 ${ti.toFixed(2)} ms, speed-up ${(tf / ti).toFixed(2)}×`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
