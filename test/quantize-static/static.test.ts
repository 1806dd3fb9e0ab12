/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Static int8 QDQ: accuracy of the labelled fixture CNN in stock onnxruntime
 * for every calibration method, ORT's fusion into integer kernels, models
 * without shape information, options, and the CLI's error exits.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { openDataset, openLabels } from '../../src/data';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import type { Model } from '../../src/ir';
import { padConvsForInt8, planQdq, prepareForStaticInt8 } from '../../src/passes/quantize/static';
import { quantizeStaticModel } from '../../src/pipeline/static';
import type { CalibrationMethod } from '../../src/calibrate';
import { runMc } from '../helpers/cli-run';
import { buildCnn, uniform, writeNpy } from '../calibrate/helpers';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const CALIB = path.join(FIX, 'calib-x.npy');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-static-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function top1(model: Model | Uint8Array): Promise<number> {
  const bytes = model instanceof Uint8Array ? model : encodeOnnx(model);
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  const labels = openLabels(path.join(FIX, 'eval-y.npy'));
  const ys = [...labels.batches(1000)][0].ids;
  const [batch] = [...openDataset(path.join(FIX, 'eval-x.npy')).batches(1000)];
  const x = batch.inputs.values().next().value!;
  const out = (await s.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.shape) })).logits.data as Float32Array;
  await s.release();
  let right = 0;
  for (let i = 0; i < batch.count; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (out[i * 10 + k] > out[i * 10 + best]) best = k;
    if (best === Number(ys[i])) right++;
  }
  return (100 * right) / batch.count;
}

describe('fixture CNN accuracy in onnxruntime', () => {
  let float = 0;
  beforeAll(async () => { float = await top1(fs.readFileSync(path.join(FIX, 'cnn.onnx'))); });

  const measured: Record<string, number> = {};
  afterAll(() => console.log(`top-1: float ${float.toFixed(1)}%, ${Object.entries(measured).map(([k, v]) => `${k} ${v.toFixed(1)}%`).join(', ')}`));

  test.each<[CalibrationMethod, number]>([['minmax', 0.5], ['percentile', 0.5], ['entropy', 1.5], ['mse', 1.5]])('%s loses at most %d points', async (method, budget) => {
    const m = loadOnnx(path.join(FIX, 'cnn.onnx'));
    const r = await quantizeStaticModel(m, { calibrationMethod: method, smallLayers: ['fc1/Gemm', 'logits/Gemm'] }, { data: CALIB });
    expect(r.calibration.samples).toBe(256);
    expect(r.quantizedNodes.map((n) => n.opType)).toEqual(['Conv', 'Conv', 'Conv']);
    expect(r.skipped.map((k) => `${k.node}: ${k.reason.split(' ')[0]}`)).toEqual(['fc1/Gemm: kept', 'logits/Gemm: kept']); // pinned float (--small-layers), as timing decided on the machine that set issue 10's numbers
    expect(r.transformations.map((t) => t.split(':')[0])).toEqual([
      'folded BatchNormalization into Conv',
      "padded Conv input channels with zeros to a multiple of 4 for onnxruntime's fast int8 conv kernel",
    ]);
    expect(r.transformations[1]).toMatch(/conv1\/Conv 1→4$/); // portable (default): no space-to-depth rewrite
    const acc = await top1(m);
    measured[method] = acc;
    expect(float).toBeGreaterThan(80);
    expect(float - acc).toBeLessThanOrEqual(budget);
  });
});

describe('QDQ placement', () => {
  const calib = path.join(tmp, 'calib.npy');
  beforeAll(() => writeNpy(calib, uniform(48 * 784, 5, 0, 1), [48, 1, 28, 28]));

  test('ORT fuses convs into QLinearConv, a large Gemm (as MatMul) into QLinearMatMul, MaxPool on int8; no shape info needed', async () => {
    const m = buildCnn(3, 16, 48); // intermediates carry no dtype or shape; fc1 is 64×1200, fc2 64×10
    const r = await quantizeStaticModel(m, { batchSize: 16, smallLayers: ['fc2'] }, { data: calib });
    expect(r.transformations).toEqual([
      'rewrote Gemm as MatMul + Add (bias kept in float) so onnxruntime runs QLinearMatMul: fc1',
      "padded Conv input channels with zeros to a multiple of 4 for onnxruntime's fast int8 conv kernel: conv1 1→4",
    ]);
    expect(r.quantizedNodes).toEqual([{ name: 'conv1', opType: 'Conv' }, { name: 'conv2', opType: 'Conv' }, { name: 'fc1', opType: 'MatMul' }]);
    expect(r.skipped.map((k) => k.node)).toEqual(['fc1_bias', 'fc2']); // the float bias Add; fc2 (64×10), pinned float
    expect(r.folded).toEqual(['relu1', 'relu2']); // relu3 follows fc1's float bias Add
    expect(r.calibration.batches).toBe(3);
    const byName = new Map(r.activations.map((a) => [a.name, a]));
    expect(byName.get('pool1_out')?.sharedWith).toBe('relu1_out');
    expect(byName.get('flatten_out')?.sharedWith).toBe('relu2_out');
    expect(byName.get('relu1_out')?.zeroPoint).toBe(-128); // range [0, max]: zp = qmin, so ORT can drop the Relu
    expect(byName.get('input_channel_padded')?.min).toBeGreaterThanOrEqual(0);
    expect(m.graph.initializers.find((v) => v.name === 'conv1.weight_quantized')?.const?.shape).toEqual([16, 4, 3, 3]);
    const optimized = path.join(tmp, 'opt.onnx');
    const s = await ort.InferenceSession.create(encodeOnnx(m), { graphOptimizationLevel: 'all', intraOpNumThreads: 1, optimizedModelFilePath: optimized });
    await s.release();
    const ops = loadOnnx(optimized).graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(2);
    expect(ops.filter((o) => o === 'QLinearMatMul')).toHaveLength(1);
    expect(ops).not.toContain('MatMul');
    expect(ops).not.toContain('MaxPool'); // replaced by an int8 NhwcMaxPool
    const meta = JSON.parse(m.metadataProps.find((p) => p.key === 'mc.quantization')!.value);
    expect(meta).toMatchObject({ mode: 'static', activationType: 'int8', granularity: 'channel', calibration: { method: 'minmax', samples: 48 } });
  });

  test('the rewrites before planning are exact: BN fold, Gemm → MatMul + Add and channel padding keep the float outputs', async () => {
    const x = uniform(8 * 784, 4, 0, 1);
    const run = async (m: Model): Promise<Float32Array> => {
      const s = await ort.InferenceSession.create(encodeOnnx(m), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
      const y = (await s.run({ input: new ort.Tensor('float32', x, [8, 1, 28, 28]) })).logits.data as Float32Array;
      await s.release();
      return y;
    };
    for (const make of [() => loadOnnx(path.join(FIX, 'cnn.onnx')), () => buildCnn(5, 16, 48)]) {
      const ref = await run(make());
      const m = make();
      const p = prepareForStaticInt8(m, { exclude: [] }, 'test');
      const { padded, sources } = padConvsForInt8(m, planQdq(m.graph, { exclude: [], originalOpType: p.originalOpType }));
      expect(p.transformations.length + padded.length).toBeGreaterThanOrEqual(2);
      expect(padded.map((q) => `${q.from}→${q.to}`)).toEqual(['1→4']);
      const conv1 = m.graph.nodes.find((n) => n.name === 'conv1/Conv' || n.name === 'conv1')!;
      expect(sources.get(conv1.inputs[0]!)?.name).toBe('input'); // the padded tensor takes the input's calibrated range
      expect(m.graph.nodes.map((n) => n.opType)).not.toContain('BatchNormalization');
      const y = await run(m);
      let d = 0; let mx = 0;
      for (let i = 0; i < y.length; i++) { d = Math.max(d, Math.abs(y[i] - ref[i])); mx = Math.max(mx, Math.abs(ref[i])); }
      expect(d / mx).toBeLessThan(1e-5);
    }
  });

  test('int8 output tracks the float model; uint8 activations, per-tensor weights and --exclude', async () => {
    const x = uniform(4 * 784, 9, 0, 1);
    const run = async (m: Model): Promise<Float32Array> => {
      const s = await ort.InferenceSession.create(encodeOnnx(m), { intraOpNumThreads: 1 });
      const y = (await s.run({ input: new ort.Tensor('float32', x, [4, 1, 28, 28]) })).logits.data as Float32Array;
      await s.release();
      return y;
    };
    const ref = await run(buildCnn(4));
    const sqnr = (y: Float32Array): number => {
      let sig = 0; let err = 0;
      for (let i = 0; i < y.length; i++) { sig += ref[i] ** 2; err += (ref[i] - y[i]) ** 2; }
      return 10 * Math.log10(sig / err);
    };
    const u8 = buildCnn(4);
    const ru = await quantizeStaticModel(u8, { activationType: 'uint8', perTensor: true }, { data: calib });
    expect(ru.activations.find((a) => a.name === 'relu1_out')?.zeroPoint).toBe(0);
    expect(u8.graph.nodes.find((n) => n.opType === 'DequantizeLinear' && n.inputs[0]?.name === 'conv1.weight_quantized')?.attributes.has('axis')).toBe(false);
    const ex = buildCnn(4);
    const re = await quantizeStaticModel(ex, { exclude: ['fc*'] }, { data: calib });
    expect(re.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'conv2']);
    expect(re.skipped.map((k) => k.node)).toEqual(['fc1', 'fc2']);
    expect(ex.graph.initializers.some((v) => v.name === 'fc1.weight' && v.const?.dtype === 'float32')).toBe(true);
    const i8 = buildCnn(4);
    await quantizeStaticModel(i8, {}, { data: calib });
    for (const m of [i8, u8, ex]) expect(sqnr(await run(m))).toBeGreaterThan(25);
  });
});

describe('mc quantize --calib errors', () => {
  test('an empty calibration set and a shape mismatch each exit 2 with one line', () => {
    const empty = path.join(tmp, 'empty.npy');
    writeNpy(empty, new Float32Array(0), [0, 1, 28, 28]);
    const wrong = path.join(tmp, 'wrong.npy');
    writeNpy(wrong, uniform(4 * 400, 1), [4, 1, 20, 20]);
    const model = path.join(FIX, 'cnn.onnx');
    for (const [data, msg] of [[empty, /no samples/], [wrong, /input 'input' expects .*28.*got .*20/]] as const) {
      const r = runMc(['quantize', model, '--calib', data, '-o', path.join(tmp, 'out.onnx')]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
      expect(fs.existsSync(path.join(tmp, 'out.onnx'))).toBe(false);
    }
  });

  test('values the model refuses at run time (an input length a Reshape cannot take) exit 2 naming the calibration data, not an internal error', () => {
    // x[N, 'n'] → Reshape [-1, 24] → MatMul w[24, 4096]: 4 rows of 50 values cannot be reshaped to rows of 24.
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { Graph, Node, Tensor, Value, Model } = require('../../src/ir') as typeof import('../../src/ir');
    const { saveOnnx } = require('../../src/formats/onnx') as typeof import('../../src/formats/onnx');
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: ['N', 'n'] });
    g.inputs.push(x);
    const shape = g.addInitializer('shape', Tensor.fromArray('int64', [2], BigInt64Array.of(-1n, 24n), 'shape'));
    const w = g.addInitializer('w', Tensor.fromArray('float32', [24, 4096], uniform(24 * 4096, 3, -0.3, 0.3), 'w')); // large enough to quantize
    const r = new Value('r', { dtype: 'float32' });
    const y = new Value('y', { dtype: 'float32', shape: ['M', 4096] });
    g.addNode(new Node({ opType: 'Reshape', name: 'reshape', inputs: [x, shape], outputs: [r] }));
    g.addNode(new Node({ opType: 'MatMul', name: 'fc', inputs: [r, w], outputs: [y] }));
    g.outputs.push(y);
    const m = new Model('onnx', g);
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 13 }];
    const model = path.join(tmp, 'reshape.onnx');
    saveOnnx(m, model);
    const data = path.join(tmp, 'rows50.npy');
    writeNpy(data, uniform(4 * 50, 4), [4, 50]);
    const res = runMc(['quantize', model, '--calib', data, '-o', path.join(tmp, 'reshape.int8.onnx')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^mc: .*the model fails in onnxruntime on this calibration data: .*Reshape/m);
    expect(res.stderr).not.toMatch(/internal error/);
    expect(fs.existsSync(path.join(tmp, 'reshape.int8.onnx'))).toBe(false);
  });

  test('writes a model that onnxruntime runs, with the settings in its metadata', () => {
    const out = path.join(tmp, 'cnn.int8.onnx');
    const r = runMc(['quantize', path.join(FIX, 'cnn.onnx'), '--calib', CALIB, '--calib-method', 'percentile', '--percentile', '99.99', '--calib-samples', '64', '-o', out]);
    expect(r.code).toBe(0);
    const meta = JSON.parse(loadOnnx(out).metadataProps.find((p) => p.key === 'mc.quantization')!.value);
    expect(meta.calibration).toEqual({ method: 'percentile', samples: 64, percentile: 99.99 });
    expect(meta.target).toBe('portable');
    expect(meta.activationStorage).toBeUndefined();
    expect(loadOnnx(out).graph.nodes.map((n) => n.opType)).not.toContain('SpaceToDepth');
    expect(r.stdout).toMatch(/^target portable: exact integer arithmetic on every CPU/m);
    const vnni = path.join(tmp, 'cnn.int8.vnni.onnx');
    // Pinned: the default (measure) times the rewrite on this machine, which a loaded CI runner can decide either way.
    expect(runMc(['quantize', path.join(FIX, 'cnn.onnx'), '--calib', CALIB, '--calib-samples', '64', '--target', 'avx512-vnni', '--space-to-depth', 'on', '-o', vnni]).code).toBe(0);
    expect(JSON.parse(loadOnnx(vnni).metadataProps.find((p) => p.key === 'mc.quantization')!.value)).toMatchObject({ target: 'avx512-vnni', spaceToDepth: true, activationStorage: 'uint8' });
    expect(loadOnnx(vnni).graph.nodes.map((n) => n.opType)).toContain('SpaceToDepth');
    const bad = runMc(['quantize', path.join(FIX, 'cnn.onnx'), '--calib', CALIB, '--target', 'avx3', '-o', path.join(tmp, 'bad.onnx')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--target must be one of portable, avx512-vnni, avx2, arm64');
    const kept = path.join(tmp, 'cnn.int8.kept.onnx');
    expect(runMc(['quantize', path.join(FIX, 'cnn.onnx'), '--calib', CALIB, '--calib-samples', '64', '--target', 'avx512-vnni', '--no-space-to-depth', '-o', kept]).code).toBe(0);
    const g = loadOnnx(kept).graph;
    expect(g.nodes.map((n) => n.opType)).not.toContain('SpaceToDepth');
    expect(g.nodes.filter((n) => n.opType === 'QuantizeLinear').every((n) => n.inputs[2]?.const?.dtype === 'int8')).toBe(true);
  });
});

describe('activations read inside subgraphs', () => {
  const calib = path.join(tmp, 'calib-sub.npy');
  beforeAll(() => writeNpy(calib, uniform(8 * 4 * 16 * 16, 9, 0, 1), [8, 4, 16, 16]));

  test('a Conv output read by the main graph and by an If body: Q/DQ in the main graph only, the body keeps reading float', async () => {
    // x → conv1 → relu → h; h → conv2 → y1 (main graph); If(cond) { y2 = Sigmoid(h) } reads h from the enclosing scope.
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { Graph, Node, Tensor, Value } = require('../../src/ir') as typeof import('../../src/ir');
    const g = new Graph();
    g.name = 'main';
    const x = new Value('x', { dtype: 'float32', shape: ['N', 4, 16, 16] });
    g.inputs.push(x);
    // A constant condition keeps the model single-input (.npy calibration); both bodies are still rewritten or not.
    const cond = g.addInitializer('cond', Tensor.fromArray('bool', [], Uint8Array.of(1), 'cond'));
    const conv = (name: string, input: InstanceType<typeof Value>, out: InstanceType<typeof Value>, seed: number): void => {
      const w = g.addInitializer(`${name}_w`, Tensor.fromArray('float32', [8, input === x ? 4 : 8, 3, 3], uniform((input === x ? 4 : 8) * 8 * 9, seed, -0.3, 0.3), `${name}_w`));
      g.addNode(new Node({ opType: 'Conv', name, inputs: [input, w], outputs: [out], attributes: [
        { name: 'pads', type: 'ints', value: [1n, 1n, 1n, 1n] }, { name: 'kernel_shape', type: 'ints', value: [3n, 3n] },
      ] }));
    };
    const c1 = new Value('c1', { dtype: 'float32' });
    const h = new Value('h', { dtype: 'float32' });
    const y1 = new Value('y1', { dtype: 'float32' });
    conv('conv1', x, c1, 1);
    g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [c1], outputs: [h] }));
    conv('conv2', h, y1, 2);
    const branch = (name: string, op: string): InstanceType<typeof Graph> => {
      const b = new Graph();
      b.name = name;
      const o = new Value(`${name}_y`, { dtype: 'float32' });
      b.addNode(new Node({ opType: op, name: `${name}_op`, inputs: [h], outputs: [o] }));
      b.outputs.push(o);
      return b;
    };
    const y2 = new Value('y2', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'If', name: 'if', inputs: [cond], outputs: [y2], attributes: [
      { name: 'then_branch', type: 'graph', value: branch('then', 'Sigmoid') }, { name: 'else_branch', type: 'graph', value: branch('else', 'Neg') },
    ] }));
    g.outputs.push(y1, y2);
    const { Model } = require('../../src/ir') as typeof import('../../src/ir');
    const build = (): Model => { const m = new Model('onnx', g); m.irVersion = 8; m.opsetImports = [{ domain: '', version: 13 }]; return m; };
    const bytes = encodeOnnx(build());
    const m = (await import('../../src/formats/onnx')).decodeOnnx(bytes);
    const r = await quantizeStaticModel(m, { batchSize: 4, calibrationMethod: 'minmax' }, { data: calib });
    expect(r.quantizedNodes.map((n) => n.name)).toEqual(['conv1', 'conv2']);
    const inner = [...m.graph.allNodes()].filter((n) => n.graph !== m.graph);
    expect(inner.map((n) => [n.opType, n.inputs[0]!.name])).toEqual([['Sigmoid', 'h'], ['Neg', 'h']]);
    const feeds = { x: new ort.Tensor('float32', uniform(4 * 16 * 16, 11, 0, 1), [1, 4, 16, 16]) };
    const a = await (await ort.InferenceSession.create(bytes)).run(feeds);
    const b = await (await ort.InferenceSession.create(encodeOnnx(m))).run(feeds);
    // Both outputs stay close to the float model's (h itself now comes from the int8 conv1).
    for (const o of ['y1', 'y2']) {
      const ref = a[o].data as Float32Array;
      const got = b[o].data as Float32Array;
      let sig = 0;
      let err = 0;
      for (let i = 0; i < ref.length; i++) { sig += ref[i] ** 2; err += (ref[i] - got[i]) ** 2; }
      expect(10 * Math.log10(sig / err)).toBeGreaterThan(30);
    }
  });
});
