'use strict';
/**
 * Static int8 (QDQ) vs float32 latency in onnxruntime-node: batch 32, one
 * intra-op thread, graphOptimizationLevel 'all', median of 200 interleaved
 * runs after 20 warm-ups. Models:
 *  - the fixture CNN (Conv 1→16, Conv 16→32, two Gemms; 28×28), calibrated
 *    on fixtures/calib-x.npy with min-max;
 *  - a wider synthetic CNN (Conv 3→64, 64→64, pool, 64→128, 128→128; 32×32,
 *    seeded weights, calibrated on seeded inputs), to show where int8 pays off.
 * Also prints which integer kernels ORT fused (from its optimized model).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const ROOT = path.join(__dirname, '..');
const { loadOnnx, encodeOnnx } = require(path.join(ROOT, 'dist', 'formats', 'onnx'));
const { quantizeStatic } = require(path.join(ROOT, 'dist', 'passes', 'quantize', 'static'));
const { Graph, Model, Node, Tensor, Value, intsAttr } = require(path.join(ROOT, 'dist', 'ir'));

function rand(n, seed, scale) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = ((a / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

function npy(file, data, shape) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  const pad = (64 - ((10 + dict.length + 1) % 64)) % 64;
  const header = Buffer.from(dict + ' '.repeat(pad) + '\n', 'latin1');
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  fs.writeFileSync(file, Buffer.concat([pre, header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function wideCnn() {
  const g = new Graph();
  const x = new Value('input', { dtype: 'float32', shape: ['N', 3, 32, 32] });
  g.inputs.push(x);
  let h = x;
  let c = 3;
  let seed = 1;
  const layers = [64, 64, 'pool', 128, 128, 'pool'];
  for (const l of layers) {
    const out = new Value(`t${seed}`);
    if (l === 'pool') {
      g.addNode(new Node({ opType: 'MaxPool', name: `pool${seed}`, inputs: [h], outputs: [out], attributes: [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])] }));
    } else {
      const w = g.addInitializer(`w${seed}`, Tensor.fromArray('float32', [l, c, 3, 3], rand(l * c * 9, seed, Math.sqrt(6 / (9 * c))), `w${seed}`));
      const b = g.addInitializer(`b${seed}`, Tensor.fromArray('float32', [l], rand(l, seed + 100, 0.05), `b${seed}`));
      const y = new Value(`c${seed}`);
      g.addNode(new Node({ opType: 'Conv', name: `conv${seed}`, inputs: [h, w, b], outputs: [y], attributes: [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])] }));
      g.addNode(new Node({ opType: 'Relu', name: `relu${seed}`, inputs: [y], outputs: [out] }));
      c = l;
    }
    h = out;
    seed++;
  }
  h.dtype = 'float32';
  g.outputs.push(h);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

async function session(bytes, optimized) {
  return ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', ...(optimized ? { optimizedModelFilePath: optimized } : {}) });
}

async function compare(label, floatBytes, intBytes, feed, dir) {
  const opt = path.join(dir, 'opt.onnx');
  const sf = await session(floatBytes);
  const sq = await session(intBytes, opt);
  const fused = loadOnnx(opt).graph.nodes.map((n) => n.opType).filter((o) => /^Q|Integer|Nhwc/.test(o));
  const tf = []; const tq = [];
  const time = async (s, into) => { const t = process.hrtime.bigint(); await s.run(feed); into.push(Number(process.hrtime.bigint() - t) / 1e6); };
  for (let i = 0; i < 20; i++) { await sf.run(feed); await sq.run(feed); }
  for (let i = 0; i < 200; i++) { await time(sf, tf); await time(sq, tq); }
  const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
  const f = med(tf); const q = med(tq);
  console.log(`${label}: float32 ${f.toFixed(3)} ms, int8 ${q.toFixed(3)} ms, ratio ${(q / f).toFixed(2)} (≤ 0.5 means ≥ 2× faster); ORT ran: ${[...new Set(fused)].join(', ')}`);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-static-bench-'));
  try {
    const cnn = path.join(ROOT, 'fixtures', 'cnn.onnx');
    const m = loadOnnx(cnn);
    await quantizeStatic(m, { calibrationMethod: 'minmax' }, path.join(ROOT, 'fixtures', 'calib-x.npy'));
    const x = new ort.Tensor('float32', rand(32 * 784, 5, 0.5).map((v) => v + 0.5), [32, 1, 28, 28]);
    await compare('fixture CNN, batch 32', fs.readFileSync(cnn), encodeOnnx(m), { input: x }, dir);
    const calib = path.join(dir, 'wide.npy');
    npy(calib, rand(64 * 3 * 1024, 9, 1), [64, 3, 32, 32]);
    const wf = encodeOnnx(wideCnn());
    const wq = wideCnn();
    await quantizeStatic(wq, {}, calib);
    await compare('wide CNN, batch 32', wf, encodeOnnx(wq), { input: new ort.Tensor('float32', rand(32 * 3 * 1024, 11, 1), [32, 3, 32, 32]) }, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
