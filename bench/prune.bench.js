'use strict';
/**
 * Prune benchmarks (built library in dist/):
 *  1. Structured 25% channel pruning of the fixture CNN (else the MLP): file size,
 *     MACs, and onnxruntime latency (median of timed runs, 1 thread) dense vs pruned.
 *  2. The saliency gradient pass: one batch of 32 through the differentiable executor
 *     on the wasm backend (with mc's Conv2DBackpropFilter built from forward kernels)
 *     against tfjs's pure-JS cpu backend.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const tf = require('@tensorflow/tfjs');
const { parsePruneFlags } = require('../dist/cli/commands/prune.js');
const { pruneFile } = require('../dist/pipeline/prune.js');
const { Executor, useGradientBackend } = require('../dist/runtime/executor/index.js');
const { findTargets } = require('../dist/passes/prune/index.js');
const { loadModel } = require('../dist/formats/index.js');

const FIX = path.join(__dirname, '..', 'fixtures');
const model = ['cnn.onnx', 'mlp.onnx'].map((m) => path.join(FIX, m)).find((p) => fs.existsSync(p));

async function latency(file, batch, runs) {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const x = new ort.Tensor('float32', new Float32Array(batch * 784).map((_, i) => (i % 255) / 255), [batch, 1, 28, 28]);
  const feeds = { [s.inputNames[0]]: x };
  for (let i = 0; i < 20; i++) await s.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await s.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await s.release();
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

async function gradTime(backend, m) {
  await useGradientBackend(tf, backend);
  const ex = new Executor(m, tf);
  const x = tf.tensor(new Float32Array(32 * 784).map((_, i) => (i % 251) / 251), [32, 1, 28, 28]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), 'int32'), 10);
  const weights = findTargets(m, []).targets.map((t) => t.value);
  const loss = (o) => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(o[0])), -1)));
  const once = () => tf.dispose(ex.lossAndGrads({ [m.graph.inputs[0].name]: x }, weights, loss).grads);
  once();
  const reps = 5;
  const t0 = Date.now();
  for (let i = 0; i < reps; i++) once();
  const ms = (Date.now() - t0) / reps;
  ex.dispose();
  tf.dispose([x, y]);
  return ms;
}

(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-prune-bench-'));
  try {
    const out = path.join(tmp, 'pruned.onnx');
    const r = await pruneFile(parsePruneFlags(model, { sparsity: '0.25', pattern: 'channel', output: out }));
    console.log(`${path.basename(model)}: channel 25% (magnitude)`);
    console.log(`  size  ${r.size.before.bytes} → ${r.size.after.bytes} bytes (gzip ${r.size.before.gzipBytes} → ${r.size.after.gzipBytes})`);
    if (r.report.flops) console.log(`  MACs  ${r.report.flops.before} → ${r.report.flops.after} per sample`);
    for (const batch of [1, 32]) {
      const a = await latency(model, batch, batch === 1 ? 500 : 100);
      const b = await latency(out, batch, batch === 1 ? 500 : 100);
      console.log(`  ORT latency batch ${batch}: ${a.toFixed(3)} → ${b.toFixed(3)} ms median (${((1 - b / a) * 100).toFixed(1)}% faster)`);
    }
    const m = loadModel(model);
    const wasm = await gradTime('wasm', m);
    const cpu = await gradTime('cpu', m);
    console.log(`saliency gradient, batch 32: wasm ${wasm.toFixed(1)} ms, cpu ${cpu.toFixed(1)} ms (wasm ${(cpu / wasm).toFixed(1)}x faster)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
