'use strict';
/**
 * Quantize throughput and dynamic-int8 speed.
 *  1. A 256 MiB float32 model (16 MatMul layers of 2048×2048) is written to a
 *     temp folder, then quantized in fresh processes for int8 per-channel and
 *     int4 block-32 MatMulNBits (the CLI defaults):
 *     - bench/quantize-phases-child.js times each phase (read, decode,
 *       quantize pass, encode, write) and reports CPU time and peak RSS;
 *       the table shows the median of MC_BENCH_REPEAT runs (default 3);
 *     - bench/quantize-child.js runs `mc quantize`'s own quantizeFile once,
 *       end to end, as a cross-check of the total.
 *     MiB/s is over the float32 input bytes; peak RSS is
 *     process.resourceUsage().maxRSS, shown against the model size.
 *     Targets: ≥ 200 MiB/s, peak RSS ≤ 2× the model.
 *  2. A MatMul-heavy model (4 × 1024×1024, batch 64) in onnxruntime: float32
 *     vs --mode dynamic int8, median latency of 30 runs after 5 warm-ups,
 *     one intra-op thread.
 * On a shared machine wall time includes waiting for a core; the CPU column
 * (user + system time of the child) is the steadier number.
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const { generateBenchModel, matmulStack, median, rand } = require('./quantize-model');

const dist = path.join(__dirname, '..', 'dist');
const mc = require(path.join(dist, 'api.js'));
const { encodeOnnx } = require(path.join(dist, 'formats', 'onnx'));
const { quantizePass, resolveQuantizeOptions, runPass } = require(path.join(dist, 'passes'));

const MiB = 1024 * 1024;
const FORMS = [
  { bits: 8, label: 'int8 per-channel (DequantizeLinear)' },
  { bits: 4, label: 'int4 block-32 MatMulNBits' },
];

function child(script, args) {
  const line = execFileSync(process.execPath, [path.join(__dirname, script), ...args], { encoding: 'utf8' });
  return JSON.parse(line.trim().split('\n').pop());
}

function throughputTable(input, fileBytes, tmp, repeats) {
  const phases = ['read', 'decode', 'quantize', 'encode', 'write'];
  const col = (x, w = 9) => String(x).padStart(w);
  console.log(`quantize: model ${(fileBytes / MiB).toFixed(1)} MiB (16 × MatMul 2048×2048 float32); median of ${repeats} runs, each in a fresh process`);
  console.log(`  ${'form'.padEnd(36)}${'unit'.padEnd(7)}${phases.map((p) => col(p)).join('')}${col('total')}${col('CPU')}${col('peak RSS', 14)}`);
  for (const f of FORMS) {
    const out = path.join(tmp, `big.int${f.bits}.onnx`);
    const runs = [];
    for (let i = 0; i < repeats; i++) runs.push(child('quantize-phases-child.js', [input, out, String(f.bits)]));
    const sec = Object.fromEntries(phases.map((p) => [p, median(runs.map((r) => r.phases[p]))]));
    const total = median(runs.map((r) => r.seconds));
    const cpu = median(runs.map((r) => r.cpuSeconds));
    const rss = median(runs.map((r) => r.maxRssBytes));
    const rate = (s) => (fileBytes / MiB / s).toFixed(0);
    const rssCell = `${(rss / MiB).toFixed(0)} MiB ${(rss / fileBytes).toFixed(2)}×`;
    console.log(`  ${f.label.padEnd(36)}${'s'.padEnd(7)}${phases.map((p) => col(sec[p].toFixed(3))).join('')}${col(total.toFixed(3))}${col(cpu.toFixed(3))}${col(rssCell, 14)}`);
    console.log(`  ${''.padEnd(36)}${'MiB/s'.padEnd(7)}${phases.map((p) => col(rate(sec[p]))).join('')}${col(rate(total))}${col(rate(cpu))}`);
    const e2e = child('quantize-child.js', [input, out, String(f.bits)]);
    console.log(`  ${''.padEnd(36)}mc quantize end to end: ${e2e.seconds.toFixed(2)} s = ${rate(e2e.seconds)} MiB/s, peak RSS ${(e2e.maxRssBytes / fileBytes).toFixed(2)}× model, output ${(e2e.sizeAfter / MiB).toFixed(1)} MiB`);
    fs.rmSync(out, { force: true });
  }
  console.log('  targets: total ≥ 200 MiB/s, peak RSS ≤ 2.00× model');
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
    generateBenchModel(dist, input);
    if (global.gc) global.gc();
    throughputTable(input, fs.statSync(input).size, tmp, Number(process.env.MC_BENCH_REPEAT ?? 3));
    fs.rmSync(input, { force: true });

    const d = 1024;
    const small = matmulStack(dist, 4, d);
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
