'use strict';
/**
 * Static int8 (QDQ) vs float32 latency in onnxruntime-node: batch 32, one
 * intra-op thread, graphOptimizationLevel 'all'.
 *
 * Timing: the models of a comparison take turns in blocks (BLOCKS blocks of
 * RUNS/BLOCKS timed runs each, 3 untimed runs first), so a slow drift of the
 * machine hits all of them alike while each is timed the way it runs in
 * production, over and over with its weights and buffers in cache; the
 * median of all timed runs is reported. For the fixture CNN the ratio is also
 * given with the models alternating on every run ("cold"): each run then
 * starts with the caches full of the other model, which costs a small model
 * like this one ~0.1 ms.
 *
 * Models:
 *  - the fixture CNN (Conv→BN→Relu→MaxPool ×3 with 32/64/64 channels, two
 *    Gemms; 28×28), calibrated on fixtures/calib-x.npy with min-max: the
 *    default (int8, conv1 → pool1 rewritten as SpaceToDepth → Conv → Split →
 *    Max, activations stored as uint8), the same with --no-space-to-depth
 *    (int8 storage, conv1 padded 1→4 channels), and uint8 activations; top-1
 *    on fixtures/eval-x.npy / eval-y.npy for each;
 *  - the space-to-depth rewrite by layer shape: Conv(C→M, 3×3) → Relu →
 *    MaxPool → Conv(M→32) at batch 32, rewritten vs not (sets
 *    S2D_MAX_OUTPUT_CHANNELS in src/passes/quantize/static/space-to-depth-pool.ts);
 *  - a wider synthetic CNN (Conv 3→64, 64→64, pool, 64→128, 128→128; 32×32,
 *    seeded weights, calibrated on seeded inputs), to show where int8 pays off.
 * Also prints which integer kernels ORT fused (from its optimized model).
 * Needs `npm run build` (reads dist/). RUNS (default 300), BLOCKS (default 10).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const ROOT = path.join(__dirname, '..');
const { loadOnnx, encodeOnnx } = require(path.join(ROOT, 'dist', 'formats', 'onnx'));
const { rewriteSpaceToDepthPooling } = require(path.join(ROOT, 'dist', 'passes', 'quantize', 'static'));
const { quantizeStaticModel } = require(path.join(ROOT, 'dist', 'pipeline', 'static'));
/** The pipeline's static step, called as the former pass was (model, options, data). */
const quantizeStatic = (model, options, data) => quantizeStaticModel(model, options, { data });
const { NameAllocator } = require(path.join(ROOT, 'dist', 'passes', 'quantize', 'edits'));
const { openDataset, openLabels } = require(path.join(ROOT, 'dist', 'data'));
const { Graph, Model, Node, Tensor, Value, intsAttr } = require(path.join(ROOT, 'dist', 'ir'));
const { encodeNpy } = require(path.join(ROOT, 'scripts', 'fixtures', 'npy'));
const RUNS = Number(process.env.RUNS) || 300;
const BLOCKS = Number(process.env.BLOCKS) || 10;

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
  fs.writeFileSync(file, encodeNpy(data, shape));
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
  return ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: 3, ...(optimized ? { optimizedModelFilePath: optimized } : {}) });
}

/** Median latency of each model, in blocks (or alternating every run when `cold`); the first model is the reference of the ratios. */
async function compare(label, models, feed, dir, { cold = false, quiet = false } = {}) {
  const rows = [];
  for (const [name, bytes] of models) {
    const opt = path.join(dir, 'opt.onnx');
    const s = await session(bytes, opt);
    const fused = loadOnnx(opt).graph.nodes.map((n) => n.opType).filter((o) => /^Q|Integer|Nhwc/.test(o));
    rows.push({ name, s, t: [], fused: [...new Set(fused)].join(', ') });
  }
  for (let i = 0; i < 20; i++) for (const r of rows) await r.s.run(feed);
  const timed = async (r) => {
    const t = process.hrtime.bigint();
    await r.s.run(feed);
    r.t.push(Number(process.hrtime.bigint() - t) / 1e6);
  };
  if (cold) {
    for (let i = 0; i < RUNS; i++) for (const r of rows) await timed(r);
  } else {
    const per = Math.max(1, Math.round(RUNS / BLOCKS));
    for (let b = 0; b < BLOCKS; b++) {
      for (const r of rows) {
        for (let i = 0; i < 3; i++) await r.s.run(feed);
        for (let i = 0; i < per; i++) await timed(r);
      }
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const ref = med(rows[0].t);
  if (!quiet) console.log(`${label} (batch 32, 1 thread, median of ${rows[0].t.length} runs ${cold ? 'alternating every run (cold caches)' : `in ${BLOCKS} blocks per model (warm)`}, load average ${os.loadavg()[0].toFixed(2)}):`);
  for (const r of rows) {
    const m = med(r.t);
    if (!quiet) console.log(`  ${r.name.padEnd(28)} ${m.toFixed(3)} ms  ratio ${(m / ref).toFixed(3)}${r.fused ? `  ORT ran: ${r.fused}` : ''}`);
    await r.s.release();
  }
  return rows.map((r) => med(r.t) / ref);
}

/** Top-1 (%) on the fixture eval set. */
async function top1(bytes) {
  const s = await session(bytes);
  const x = openDataset(path.join(ROOT, 'fixtures', 'eval-x.npy'));
  const [batch] = [...x.batches(100000)];
  const t = batch.inputs.values().next().value;
  const ys = [...openLabels(path.join(ROOT, 'fixtures', 'eval-y.npy')).batches(100000)][0].ids;
  const out = (await s.run({ input: new ort.Tensor('float32', t.data, t.shape) })).logits.data;
  await s.release();
  let right = 0;
  for (let i = 0; i < batch.count; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (out[i * 10 + k] > out[i * 10 + best]) best = k;
    if (best === Number(ys[i])) right++;
  }
  return (100 * right) / batch.count;
}

/** Conv(C→M, 3×3 same) → Relu → MaxPool(2×2) → Conv(M→32, 3×3) → Relu: the space-to-depth rewrite on and off. */
function poolNet(c, m, h) {
  const g = new Graph();
  const x = new Value('input', { dtype: 'float32', shape: ['N', c, h, h] });
  g.inputs.push(x);
  const w1 = g.addInitializer('w1', Tensor.fromArray('float32', [m, c, 3, 3], rand(m * c * 9, 3, 0.4), 'w1'));
  const b1 = g.addInitializer('b1', Tensor.fromArray('float32', [m], rand(m, 4, 0.1), 'b1'));
  const w2 = g.addInitializer('w2', Tensor.fromArray('float32', [32, m, 3, 3], rand(32 * m * 9, 5, 0.1), 'w2'));
  const [y, r, p, c2, out] = ['y', 'r', 'p', 'c2', 'out'].map((n) => new Value(n));
  out.dtype = 'float32';
  const same = [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])];
  g.addNode(new Node({ opType: 'Conv', name: 'conv1', inputs: [x, w1, b1], outputs: [y], attributes: same }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu1', inputs: [y], outputs: [r] }));
  g.addNode(new Node({ opType: 'MaxPool', name: 'pool1', inputs: [r], outputs: [p], attributes: [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])] }));
  g.addNode(new Node({ opType: 'Conv', name: 'conv2', inputs: [p, w2], outputs: [c2], attributes: same }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu2', inputs: [c2], outputs: [out] }));
  g.outputs.push(out);
  const model = new Model('onnx', g);
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: 13 }];
  return model;
}

async function byShape(dir) {
  console.log('space-to-depth rewrite by layer shape (Conv C→M 3×3 → Relu → MaxPool → Conv M→32; batch 32, 1 thread, warm):');
  for (const [c, m, h] of [[1, 16, 28], [1, 32, 28], [1, 64, 28], [3, 16, 64], [3, 32, 32], [3, 64, 32], [4, 64, 32]]) {
    const calib = path.join(dir, `shape-${c}-${h}.npy`);
    npy(calib, rand(32 * c * h * h, 7, 1), [32, c, h, h]);
    const [plain, forced] = [poolNet(c, m, h), poolNet(c, m, h)];
    await quantizeStatic(plain, { spaceToDepthPooling: false }, calib);
    const r = await quantizeStatic(forced, { target: 'avx512-vnni', spaceToDepthPooling: true }, calib); // the target that applies the rewrite, pinned on
    const applied = r.transformations.some((t) => t.startsWith('rewrote Conv → MaxPool'));
    const feed = { input: new ort.Tensor('float32', rand(32 * c * h * h, 8, 1), [32, c, h, h]) };
    let rewritten = forced;
    if (!applied) { // measure it anyway: rewrite the plain QDQ model with the limits raised
      rewritten = poolNet(c, m, h);
      await quantizeStatic(rewritten, { spaceToDepthPooling: false }, calib);
      rewriteSpaceToDepthPooling(rewritten.graph, rewritten.opsetVersion(''), new NameAllocator(rewritten), { limits: { maxInputChannels: 16, maxOutputChannels: 256 } });
    }
    const [, ratio] = await compare('', [['plain', encodeOnnx(plain)], ['rewritten', encodeOnnx(rewritten)]], feed, dir, { quiet: true });
    console.log(`  C=${c} M=${String(m).padEnd(2)} ${h}×${h}: rewritten/plain ${ratio.toFixed(2)}${applied ? '' : `  (not applied by default: ${r.spaceToDepthSkipped.map((s) => s.reason).join('; ')})`}`);
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-static-bench-'));
  try {
    const cnn = path.join(ROOT, 'fixtures', 'cnn.onnx');
    const calibX = path.join(ROOT, 'fixtures', 'calib-x.npy');
    const variants = [['int8 (default, --target portable)', {}], ['int8, --target avx512-vnni', { target: 'avx512-vnni' }], ['uint8 activations', { activationType: 'uint8' }]];
    const models = [['float32', fs.readFileSync(cnn)]];
    let transformations = [];
    for (const [name, opts] of variants) {
      const m = loadOnnx(cnn);
      const r = await quantizeStatic(m, { calibrationMethod: 'minmax', ...opts }, calibX);
      if (!transformations.length) transformations = r.transformations;
      models.push([name, encodeOnnx(m)]);
    }
    for (const t of transformations) console.log(`applied: ${t}`);
    const [batch] = [...openDataset(path.join(ROOT, 'fixtures', 'eval-x.npy')).batches(32)];
    const x = batch.inputs.values().next().value;
    const feed = { input: new ort.Tensor('float32', x.data, x.shape) };
    const ratios = await compare('fixture CNN', models, feed, dir);
    const cold = await compare('fixture CNN', models.slice(0, 2), feed, dir, { cold: true });
    const acc = [];
    for (const [name, bytes] of models) acc.push(`${name} ${(await top1(bytes)).toFixed(1)}%`);
    console.log(`  top-1 on fixtures/eval: ${acc.join(', ')}`);
    console.log(`  fixture CNN int8/float32 latency ratio ${ratios[1].toFixed(3)} warm, ${cold[1].toFixed(3)} cold (requirement: ≤ 0.5, i.e. ≥ 2× faster)`);
    if (process.argv.includes('--no-wide')) return;
    await byShape(dir);
    const calib = path.join(dir, 'wide.npy');
    npy(calib, rand(64 * 3 * 1024, 9, 1), [64, 3, 32, 32]);
    const wf = encodeOnnx(wideCnn());
    const wq = wideCnn();
    await quantizeStatic(wq, {}, calib);
    const wv = wideCnn();
    await quantizeStatic(wv, { target: 'avx512-vnni' }, calib);
    await compare('wide CNN', [['float32', wf], ['int8 (default, portable)', encodeOnnx(wq)], ['int8, --target avx512-vnni', encodeOnnx(wv)]], { input: new ort.Tensor('float32', rand(32 * 3 * 1024, 11, 1), [32, 3, 32, 32]) }, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
