'use strict';
/** Models and helpers shared by the quantize benches (not a bench itself: run.js runs *.bench.js only). */
const path = require('path');

/** Deterministic uniform values in ±0.05 (mulberry32). */
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

/** x[batch, d] → layers × (MatMul d×d → Relu) → y, built with the mc library in `dist`. */
/**
 * x[batch, d] → layers × (MatMul d×d → Relu) → y. `weight(mc, l)` gives layer l's float32 [d, d]
 * tensor (default: mulberry32 values in memory; bench/huge-model.js passes lazy ones).
 */
function matmulStack(dist, layers, d, weight = (mc, l) => mc.Tensor.fromArray('float32', [d, d], rand(d * d, l + 1), `w${l}`)) {
  const mc = require(path.join(dist, 'api.js'));
  const g = new mc.Graph();
  g.name = 'stack';
  let cur = new mc.Value('x', { dtype: 'float32', shape: ['batch', d] });
  g.inputs.push(cur);
  for (let l = 0; l < layers; l++) {
    const w = g.addInitializer(`w${l}`, weight(mc, l));
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

/** Writes the 256 MiB throughput model (16 × MatMul 2048×2048 float32) to `file`. */
function generateBenchModel(dist, file) {
  const { saveOnnx } = require(path.join(dist, 'formats', 'onnx'));
  saveOnnx(matmulStack(dist, 16, 2048), file);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

module.exports = { rand, matmulStack, generateBenchModel, median };
