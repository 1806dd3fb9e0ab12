/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * foldBatchNormalization: onnxruntime's outputs of the folded model equal the
 * original's (fixture CNN on the eval data; grouped, biased and shared-weight
 * convolutions; Gemm), no BatchNormalization is left, and pairs that cannot be
 * folded exactly are left alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { openDataset } from '../../src/data';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import { floatAttr, Graph, intAttr, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { foldBatchNormalization } from '../../src/passes';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const ctx = { toolVersion: 'test' };

async function run(m: Model, feeds: Record<string, Float32Array>, shape: number[]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(encodeOnnx(m), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', v, shape);
  const out = await s.run(inputs);
  const ys = s.outputNames.map((n) => out[n].data as Float32Array);
  await s.release();
  return ys;
}

/** max |a − b| / max |b|: relative to the output's scale, so near-zero elements do not dominate. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0; let s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return d / s;
}

function seeded(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; out[i] = lo + (hi - lo) * (a / 2 ** 32); }
  return out;
}

function f32(g: Graph, name: string, shape: number[], seed: number, lo = -1, hi = 1): Value {
  let n = 1;
  for (const d of shape) n *= d;
  return g.addInitializer(name, Tensor.fromArray('float32', shape, seeded(n, seed, lo, hi), name));
}

function bn(g: Graph, name: string, x: Value, c: number, seed: number): Value {
  const y = new Value(`${name}_out`, { dtype: 'float32' });
  g.addNode(new Node({
    opType: 'BatchNormalization', name, outputs: [y], attributes: [floatAttr('epsilon', 1e-3)],
    inputs: [x, f32(g, `${name}.gamma`, [c], seed, 0.5, 2), f32(g, `${name}.beta`, [c], seed + 1), f32(g, `${name}.mean`, [c], seed + 2), f32(g, `${name}.var`, [c], seed + 3, 0.1, 3)],
  }));
  return y;
}

function conv(g: Graph, name: string, x: Value, w: Value, b: Value | null, group = 1): Value {
  const y = new Value(`${name}_out`, { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Conv', name, inputs: b ? [x, w, b] : [x, w], outputs: [y], attributes: [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intAttr('group', group)] }));
  return y;
}

function model(g: Graph): Model {
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

test('the fixture CNN folds bn1..bn3 and onnxruntime gives the same logits on the eval data (≤ 1e-5 relative)', async () => {
  const original = loadOnnx(path.join(FIX, 'cnn.onnx'));
  const folded = loadOnnx(path.join(FIX, 'cnn.onnx'));
  const r = foldBatchNormalization.run(folded, ctx);
  expect(r.modified).toBe(true);
  expect(r.changes.folded.map((f) => `${f.batchNorm}>${f.into}`)).toEqual(['bn1/BatchNormalization>conv1/Conv', 'bn2/BatchNormalization>conv2/Conv', 'bn3/BatchNormalization>conv3/Conv']);
  const ops = folded.graph.nodes.map((n) => n.opType);
  expect(ops).not.toContain('BatchNormalization');
  expect(ops.filter((o) => o === 'Conv')).toHaveLength(3);
  for (const c of folded.graph.nodes.filter((n) => n.opType === 'Conv')) {
    expect(c.inputs).toHaveLength(3); // a bias was added
    expect(c.inputs[2]!.const!.shape).toEqual([c.inputs[1]!.const!.shape[0]]);
  }
  expect(folded.graph.initializers.some((v) => v.name.startsWith('bn'))).toBe(false);
  const [batch] = [...openDataset(path.join(FIX, 'eval-x.npy')).batches(100000)];
  const x = batch.inputs.values().next().value!;
  const [ref] = await run(original, { input: x.data as Float32Array }, x.shape);
  const [got] = await run(folded, { input: x.data as Float32Array }, x.shape);
  expect(ref.length).toBe(batch.count * 10);
  expect(relErr(got, ref)).toBeLessThan(1e-5);
  // Deterministic: folding twice from the same file gives byte-identical models.
  const again = loadOnnx(path.join(FIX, 'cnn.onnx'));
  foldBatchNormalization.run(again, ctx);
  expect(Buffer.compare(Buffer.from(encodeOnnx(again)), Buffer.from(encodeOnnx(folded)))).toBe(0);
});

test('grouped conv with bias, a weight shared with another conv, and a BN on a graph output', async () => {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: [2, 8, 6, 6] });
  g.inputs.push(x);
  const wShared = f32(g, 'w_shared', [8, 8, 3, 3], 1);
  const a = conv(g, 'convA', x, wShared, f32(g, 'bA', [8], 2));          // shares its weight with convB
  const ya = bn(g, 'bnA', a, 8, 10);
  const b = conv(g, 'convB', x, wShared, null);
  const yb = new Value('yb', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Relu', name: 'reluB', inputs: [b], outputs: [yb] }));
  const dw = conv(g, 'convDW', ya, f32(g, 'w_dw', [8, 1, 3, 3], 3), f32(g, 'b_dw', [8], 4), 8); // depthwise
  const ydw = bn(g, 'bnDW', dw, 8, 20);
  g.outputs.push(ydw, yb);
  const feed = { x: seeded(2 * 8 * 36, 99) };
  const ref = await run(model(g), feed, [2, 8, 6, 6]);
  const sharedBefore = Buffer.from(wShared.const!.bytes());
  const m = model(g);
  const r = foldBatchNormalization.run(m, ctx);
  expect(r.changes.folded.map((f) => f.batchNorm)).toEqual(['bnA', 'bnDW']);
  expect(g.nodes.map((n) => n.opType)).toEqual(['Conv', 'Conv', 'Relu', 'Conv']);
  // The shared weight is untouched and still read by convB; convA got its own folded copy.
  expect(Buffer.compare(Buffer.from(wShared.const!.bytes()), sharedBefore)).toBe(0);
  expect(wShared.uses.map((u) => u.node.name)).toEqual(['convB']);
  const convA = g.nodes.find((n) => n.name === 'convA')!;
  expect(convA.inputs[1]!.name).toBe('w_shared_folded');
  // The graph output keeps its name, now produced by the depthwise Conv.
  expect(g.outputs[0].name).toBe('bnDW_out');
  expect(g.outputs[0].producer?.name).toBe('convDW');
  const got = await run(m, feed, [2, 8, 6, 6]);
  expect(relErr(got[0], ref[0])).toBeLessThan(1e-5);
  expect(relErr(got[1], ref[1])).toBe(0);
});

test('Gemm (transB = 1, beta ≠ 1) → BN folds into the Gemm', async () => {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: [4, 12] });
  g.inputs.push(x);
  const h = new Value('h', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Gemm', name: 'fc', inputs: [x, f32(g, 'w', [5, 12], 1), f32(g, 'b', [5], 2)], outputs: [h], attributes: [intAttr('transB', 1), floatAttr('beta', 0.5), floatAttr('alpha', 2)] }));
  g.outputs.push(bn(g, 'bnfc', h, 5, 7));
  const feed = { x: seeded(48, 5) };
  const ref = await run(model(g), feed, [4, 12]);
  const m = model(g);
  expect(foldBatchNormalization.run(m, ctx).changes.folded).toEqual([{ batchNorm: 'bnfc', into: 'fc', opType: 'Gemm' }]);
  expect(g.nodes.map((n) => n.opType)).toEqual(['Gemm']);
  expect(g.nodes[0].attributes.has('beta')).toBe(false);
  const got = await run(m, feed, [4, 12]);
  expect(relErr(got[0], ref[0])).toBeLessThan(1e-5);
});

test('left alone: a conv output with a second reader, a BN with training outputs, a non-constant scale', () => {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: [1, 4, 5, 5] });
  const gammaIn = new Value('gamma_in', { dtype: 'float32', shape: [4] });
  g.inputs.push(x, gammaIn);
  const c1 = conv(g, 'c1', x, f32(g, 'w1', [4, 4, 3, 3], 1), null);
  const y1 = bn(g, 'bn1', c1, 4, 1);
  const r = new Value('r', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Relu', name: 'also_reads_c1', inputs: [c1], outputs: [r] }));
  const c2 = conv(g, 'c2', x, f32(g, 'w2', [4, 4, 3, 3], 2), null);
  const y2 = bn(g, 'bn2', c2, 4, 2);
  const bn2 = y2.producer!;
  bn2.appendOutput(new Value('running_mean_out')); // training form
  const c3 = conv(g, 'c3', x, f32(g, 'w3', [4, 4, 3, 3], 3), null);
  const y3 = bn(g, 'bn3', c3, 4, 3);
  y3.producer!.setInput(1, gammaIn);
  g.outputs.push(y1, r, y2, y3);
  const m = model(g);
  const before = g.nodes.map((n) => n.name);
  const res = foldBatchNormalization.run(m, ctx);
  expect(res).toEqual({ modified: false, changes: { folded: [] } });
  expect(g.nodes.map((n) => n.name)).toEqual(before);
});
