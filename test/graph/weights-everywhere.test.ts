/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Weights wherever an ONNX file keeps them (issue 10 §1): Constant nodes, If
 * subgraphs, outer-scope references, and weights that reach their op through
 * data-movement nodes. Each model is built here, run in onnxruntime before and
 * after, and the counts are derived from what the test built.
 */
import * as ort from 'onnxruntime-node';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { liftConstantNodes } from '../../src/graph';
import { inspectModel } from '../../src/inspect';
import { floatAttr, Graph, intAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { PRUNE_DEFAULTS, prunePass } from '../../src/passes/prune';
import { raiseOpset } from '../../src/passes/quantize/opset';
import { NameAllocator } from '../../src/passes/quantize/edits';
import { runOnce } from '../helpers/onnx-ort';
import { onnxModel, randomFloats, sqnr } from '../quantize/helpers';

const CTX = { toolVersion: '9.9.9' };

function constantNode(g: Graph, name: string, shape: number[], data: Float32Array): Value {
  const out = new Value(name, { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Constant', name: `${name}_node`, outputs: [out], attributes: [{ name: 'value', type: 'tensor', value: Tensor.fromArray('float32', shape, data, name) }] }));
  return out;
}

function matmul(g: Graph, a: Value, b: Value, out: string): Value {
  const y = new Value(out, { dtype: 'float32' });
  g.addNode(new Node({ opType: 'MatMul', name: `${out}_mm`, inputs: [a, b], outputs: [y] }));
  return y;
}

/**
 * x[2,16] → MatMul(Constant wc[16,32]) → h → If(cond):
 *   then: MatMul(h, wouter) → MatMul(·, Constant wthen[8,8])
 *   else: MatMul(h, wouter) → MatMul(·, welse[8,8] initializer of the else body)
 * wouter [32,8] is an initializer of the main graph read only inside the branches.
 */
function branchy(): Model {
  const g = new Graph();
  g.name = 'main';
  const x = new Value('x', { dtype: 'float32', shape: [2, 16] });
  const cond = new Value('cond', { dtype: 'bool', shape: [] });
  g.inputs.push(x, cond);
  const wc = constantNode(g, 'wc', [16, 32], randomFloats(512, 1, 0.3));
  const wouter = g.addInitializer('wouter', Tensor.fromArray('float32', [32, 8], randomFloats(256, 2, 0.3), 'wouter'));
  const h = matmul(g, x, wc, 'h');
  const branch = (name: string, last: (b: Graph) => Value): Graph => {
    const b = new Graph();
    b.name = name;
    const t = matmul(b, h, wouter, `${name}_t`);
    const y = matmul(b, t, last(b), `${name}_y`);
    y.shape = [2, 8];
    b.outputs.push(y);
    return b;
  };
  const thenG = branch('then', (b) => constantNode(b, 'wthen', [8, 8], randomFloats(64, 3, 0.3)));
  const elseG = branch('else', (b) => b.addInitializer('welse', Tensor.fromArray('float32', [8, 8], randomFloats(64, 4, 0.3), 'welse')));
  const y = new Value('y', { dtype: 'float32', shape: [2, 8] });
  g.addNode(new Node({ opType: 'If', name: 'if', inputs: [cond], outputs: [y], attributes: [
    { name: 'then_branch', type: 'graph', value: thenG }, { name: 'else_branch', type: 'graph', value: elseG },
  ] }));
  g.outputs.push(y);
  return onnxModel(g, 13);
}

async function runBoth(bytes: Uint8Array): Promise<Float32Array[]> {
  const x = new ort.Tensor('float32', randomFloats(32, 9), [2, 16]);
  const out: Float32Array[] = [];
  for (const c of [true, false]) out.push((await runOnce(bytes, { x, cond: new ort.Tensor('bool', [c], []) })).y.data as Float32Array);
  return out;
}

describe('weights in Constant nodes and subgraphs', () => {
  it('inspect counts Constant-node and subgraph weights as parameters', () => {
    const m = decodeOnnx(encodeOnnx(branchy()));
    expect(inspectModel(m).parameters).toBe(16 * 32 + 32 * 8 + 8 * 8 + 8 * 8);
  });

  it('mc convert stays lossless: a model with Constant-node weights re-encodes to the same bytes', () => {
    const bytes = encodeOnnx(branchy());
    expect(Buffer.from(encodeOnnx(decodeOnnx(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });

  it('lifting makes them initializers of their own graph, and onnxruntime gives identical outputs', async () => {
    const bytes = encodeOnnx(branchy());
    const m = decodeOnnx(bytes);
    const { changes } = liftConstantNodes(m);
    expect(changes.lifted.map((l) => [l.name, l.inSubgraph])).toEqual([['wc', false], ['wthen', true]]);
    expect([...m.graph.allNodes()].some((n) => n.opType === 'Constant')).toBe(false);
    const before = await runBoth(bytes);
    const after = await runBoth(encodeOnnx(m));
    after.forEach((a, i) => expect(Buffer.from(a.buffer).equals(Buffer.from(before[i].buffer))).toBe(true));
  });

  it('int8 quantizes all four, the outer-scope weight once in the main graph, and both branches stay accurate', async () => {
    const bytes = encodeOnnx(branchy());
    const m = decodeOnnx(bytes);
    liftConstantNodes(m);
    const rep = runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0 })), m, CTX).changes;
    expect(rep.tensors.map((t) => t.name).sort()).toEqual(['wc', 'welse', 'wouter', 'wthen']);
    expect(rep.coverage.fraction).toBe(1);
    const dqMain = m.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').map((n) => n.inputs[0]!.name);
    expect(dqMain.sort()).toEqual(['wc_quantized', 'wouter_quantized']);
    expect(m.graph.initializers.some((v) => v.name === 'wouter')).toBe(false);
    const ref = await runBoth(bytes);
    const got = await runBoth(encodeOnnx(m));
    for (let i = 0; i < 2; i++) expect(sqnr(ref[i], got[i])).toBeGreaterThan(35);
  });

  /** The weight's values with its `k` smallest magnitudes zeroed: the test's own selection. */
  const halfZeroed = (w: Float32Array): Float32Array => {
    const order = Array.from(w.keys()).sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]));
    const out = Float32Array.from(w);
    for (const i of order.slice(0, w.length / 2)) out[i] = 0;
    return out;
  };

  it('magnitude pruning reaches all four, in the main graph and in both branches, and onnxruntime runs both', async () => {
    const bytes = encodeOnnx(branchy());
    const m = decodeOnnx(bytes);
    liftConstantNodes(m);
    const rep = runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity: 0.5 }), m, CTX).changes;
    expect(rep.layers.map((l) => l.weight).sort()).toEqual(['wc', 'welse', 'wouter', 'wthen']);
    expect(rep.skipped).toEqual([]);
    // The reference: the same model with each weight's smaller half zeroed by the test itself.
    const ref = decodeOnnx(bytes);
    liftConstantNodes(ref);
    const consts = new Map([...ref.graph.allNodes()].flatMap((n) => n.inputs).filter((v) => v?.const).map((v) => [v!.name, v!.const!]));
    for (const name of ['wc', 'welse', 'wouter', 'wthen']) {
      const t = consts.get(name)!;
      const z = halfZeroed(Float32Array.from(t.toFloat32()));
      t.setData('float32', [...t.shape], { kind: 'bytes', bytes: new Uint8Array(z.buffer) });
      expect({ name, zeros: rep.layers.find((l) => l.weight === name)!.zeros }).toEqual({ name, zeros: z.length / 2 });
    }
    const want = await runBoth(encodeOnnx(ref));
    const got = await runBoth(encodeOnnx(m));
    got.forEach((a, i) => expect(Buffer.from(a.buffer).equals(Buffer.from(want[i].buffer))).toBe(true));
    // And the outputs did change: the pruning is not a no-op.
    const dense = await runBoth(bytes);
    expect(Buffer.from(got[0].buffer).equals(Buffer.from(dense[0].buffer))).toBe(false);
  });

  it('channel pruning names the layers inside the branches: it traces the main graph only', () => {
    const m = decodeOnnx(encodeOnnx(branchy()));
    liftConstantNodes(m);
    const rep = runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity: 0.5, pattern: 'channel' }), m, CTX).changes;
    const inBranch = rep.skipped.filter((s) => /is inside a subgraph/.test(s.reason)).map((s) => s.layer).sort();
    // wouter, read by both branches, is one layer named by its first reader.
    expect(inBranch).toEqual(['else_y_mm', 'then_t_mm', 'then_y_mm']);
    // wc's output h is read inside both branches: its channels are held, or the branches' MatMuls would break.
    expect(rep.layers).toEqual([]);
    expect(rep.skipped.find((s) => s.layer === 'h_mm')?.reason).toMatch(/'h' is read inside a subgraph of If node 'if'/);
  });
});

describe('every Constant form', () => {
  it('value_floats and sparse_value hold weights (lifted, dense, exact); value_ints shape constants stay nodes', async () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [2, 4] });
    g.inputs.push(x);
    const node = (name: string, attr: Parameters<Graph['addNode']>[0]['attributes'] extends Map<string, infer A> ? A : never): Value => {
      const out = new Value(name);
      g.addNode(new Node({ opType: 'Constant', name: `${name}_node`, outputs: [out], attributes: [attr] }));
      return out;
    };
    const bias = node('bias', { name: 'value_floats', type: 'floats', value: [0.5, -1, 2, 0.25] });
    // A 4×4 weight with 3 non-zeros: ONNX SparseTensorProto with [NNZ, rank] coordinates.
    const idx = BigInt64Array.from([0n, 1n, 2n, 3n, 3n, 0n]);
    const w = node('w_sparse', { name: 'sparse_value', type: 'sparse_tensor', value: {
      values: Tensor.fromArray('float32', [3], Float32Array.of(1.5, -2, 3)), indices: Tensor.fromArray('int64', [3, 2], idx), dims: [4, 4],
    } });
    const shape = node('shape', { name: 'value_ints', type: 'ints', value: [4n, 2n] });
    const h = matmul(g, x, w, 'h');
    const b = new Value('b', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Add', name: 'add', inputs: [h, bias], outputs: [b] }));
    const y = new Value('y', { dtype: 'float32', shape: [4, 2] });
    g.addNode(new Node({ opType: 'Reshape', name: 'reshape', inputs: [b, shape], outputs: [y] }));
    g.outputs.push(y);
    const bytes = encodeOnnx(onnxModel(g));
    const m = decodeOnnx(bytes);
    expect(inspectModel(m).parameters).toBe(4 + 16);
    expect(liftConstantNodes(m).changes.lifted.map((l) => l.name)).toEqual(['bias', 'w_sparse']);
    expect(Array.from(m.graph.initializers.find((v) => v.name === 'w_sparse')!.const!.toFloat32())).toEqual([
      0, 1.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, -2, 3, 0, 0, 0,
    ]);
    expect(m.graph.nodes.filter((n) => n.opType === 'Constant').map((n) => n.outputs[0].name)).toEqual(['shape']);
    const feeds = { x: new ort.Tensor('float32', randomFloats(8, 13), [2, 4]) };
    const ref = (await runOnce(bytes, feeds)).y.data as Float32Array;
    const got = (await runOnce(encodeOnnx(m), feeds)).y.data as Float32Array;
    expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });
});

describe('weights that reach their op through data-movement nodes', () => {
  it('a stored [N,K] weight behind Transpose → MatMul gets per-channel scales along its N axis', async () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [4, 64] });
    g.inputs.push(x);
    // Row n of the stored weight scaled by 1 + n: per-row scales matter.
    const w = randomFloats(32 * 64, 5, 0.2).map((v, i) => v * (1 + Math.floor(i / 64)));
    const stored = g.addInitializer('w_nk', Tensor.fromArray('float32', [32, 64], w, 'w_nk'));
    const wt = new Value('w_kn', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Transpose', name: 't', inputs: [stored], outputs: [wt], attributes: [{ name: 'perm', type: 'ints', value: [1n, 0n] }] }));
    const y = matmul(g, x, wt, 'y');
    g.outputs.push(y);
    const bytes = encodeOnnx(onnxModel(g));
    const m = decodeOnnx(bytes);
    const rep = runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0 })), m, CTX).changes;
    expect(rep.tensors.map((t) => [t.name, t.granularity, t.ops[0]])).toEqual([['w_nk', 'channel', 'Transpose→MatMul']]);
    const dq = m.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
    expect(dq.attrInt('axis')).toBe(0);
    const feeds = { x: new ort.Tensor('float32', randomFloats(256, 6), [4, 64]) };
    const ref = (await runOnce(bytes, feeds)).y.data as Float32Array;
    const got = (await runOnce(encodeOnnx(m), feeds)).y.data as Float32Array;
    expect(sqnr(ref, got)).toBeGreaterThan(35);
  });

  it('PyTorch-style LSTM weights (Slice → Concat → Unsqueeze → LSTM.W) are quantized along their gate rows', async () => {
    const hidden = 16;
    const input = 8;
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [5, 1, input] });
    g.inputs.push(x);
    const rows = 4 * hidden;
    const wih = g.addInitializer('weight_ih', Tensor.fromArray('float32', [rows, input], randomFloats(rows * input, 7, 0.3), 'weight_ih'));
    const whh = g.addInitializer('weight_hh', Tensor.fromArray('float32', [rows, hidden], randomFloats(rows * hidden, 8, 0.3), 'weight_hh'));
    const ints = (name: string, v: number[]): Value => g.addInitializer(name, Tensor.fromArray('int64', [v.length], BigInt64Array.from(v.map(BigInt)), name));
    // PyTorch gates (i, f, g, o) → ONNX (i, o, f, c): rows [0,H) [3H,4H) [H,3H).
    const reorder = (w: Value, tag: string): Value => {
      const parts = [[0, hidden], [3 * hidden, 4 * hidden], [hidden, 3 * hidden]].map(([a, b], i) => {
        const o = new Value(`${tag}_s${i}`, { dtype: 'float32' });
        g.addNode(new Node({ opType: 'Slice', name: `${tag}_slice${i}`, inputs: [w, ints(`${tag}_a${i}`, [a]), ints(`${tag}_b${i}`, [b]), ints(`${tag}_ax${i}`, [0])], outputs: [o] }));
        return o;
      });
      const cat = new Value(`${tag}_cat`, { dtype: 'float32' });
      g.addNode(new Node({ opType: 'Concat', name: `${tag}_concat`, inputs: parts, outputs: [cat], attributes: [intAttr('axis', 0)] }));
      const un = new Value(`${tag}_3d`, { dtype: 'float32' });
      g.addNode(new Node({ opType: 'Unsqueeze', name: `${tag}_unsqueeze`, inputs: [cat, ints(`${tag}_axes`, [0])], outputs: [un] }));
      return un;
    };
    const W = reorder(wih, 'w');
    const R = reorder(whh, 'r');
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'LSTM', name: 'lstm', inputs: [x, W, R], outputs: [y], attributes: [intAttr('hidden_size', hidden)] }));
    g.outputs.push(y);
    const bytes = encodeOnnx(onnxModel(g));
    const m = decodeOnnx(bytes);
    const rep = runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0 })), m, CTX).changes;
    expect(rep.tensors.map((t) => [t.name, t.ops[0]])).toEqual([['weight_ih', 'Slice→Concat→Unsqueeze→LSTM'], ['weight_hh', 'Slice→Concat→Unsqueeze→LSTM']]);
    for (const dq of m.graph.nodes.filter((n) => n.opType === 'DequantizeLinear')) expect(dq.attrInt('axis')).toBe(0);
    const feeds = { x: new ort.Tensor('float32', randomFloats(5 * input, 9), [5, 1, input]) };
    const ref = (await runOnce(bytes, feeds)).y.data as Float32Array;
    const got = (await runOnce(encodeOnnx(m), feeds)).y.data as Float32Array;
    expect(sqnr(ref, got)).toBeGreaterThan(35);
  });

  it('a weight also read by a non-weight op keeps its float copy and counts as not compressed', () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [4, 64] });
    g.inputs.push(x);
    const w = g.addInitializer('w', Tensor.fromArray('float32', [64, 64], randomFloats(4096, 10, 0.2), 'w'));
    const y = matmul(g, x, w, 'y');
    const z = new Value('z', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Mul', name: 'scale', inputs: [y, w], outputs: [z] }));
    g.outputs.push(z);
    const m = onnxModel(g);
    const rep = runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0 })), m, CTX).changes;
    // MatMul takes it through its weight slot; the Mul keeps reading the float original.
    expect(rep.tensors.map((t) => [t.name, t.floatKept])).toEqual([['w', true]]);
    expect(rep.coverage.fraction).toBe(0);
  });
});

describe('raising the opset carries old-form nodes over unchanged', () => {
  it('Clip-6, Pad-2, Slice-1 and Softmax-1 (last axis) at opset 9 give identical outputs at opset 13', async () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [3, 8] });
    g.inputs.push(x);
    const v = (n: string): Value => new Value(n, { dtype: 'float32' });
    const c = v('c');
    const p = v('p');
    const s = v('s');
    const y = new Value('y', { dtype: 'float32', shape: [3, 6] });
    g.addNode(new Node({ opType: 'Clip', name: 'clip', inputs: [x], outputs: [c], attributes: [floatAttr('min', -0.25), floatAttr('max', 0.5)] }));
    g.addNode(new Node({ opType: 'Pad', name: 'pad', inputs: [c], outputs: [p], attributes: [
      { name: 'pads', type: 'ints', value: [0n, 1n, 0n, 2n] }, floatAttr('value', 0.75),
    ] }));
    g.addNode(new Node({ opType: 'Slice', name: 'slice', inputs: [p], outputs: [s], attributes: [
      { name: 'starts', type: 'ints', value: [2n] }, { name: 'ends', type: 'ints', value: [8n] }, { name: 'axes', type: 'ints', value: [1n] },
    ] }));
    g.addNode(new Node({ opType: 'Softmax', name: 'softmax', inputs: [s], outputs: [y], attributes: [intAttr('axis', 1)] }));
    g.outputs.push(y);
    const m9 = onnxModel(g, 9);
    const bytes = encodeOnnx(m9);
    const m = decodeOnnx(bytes);
    raiseOpset(m, 13, new NameAllocator(m), 'hint');
    expect(m.opsetVersion('')).toBe(13);
    const feeds = { x: new ort.Tensor('float32', randomFloats(24, 11), [3, 8]) };
    const ref = (await runOnce(bytes, feeds)).y.data as Float32Array;
    const got = (await runOnce(encodeOnnx(m), feeds)).y.data as Float32Array;
    expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });

  it('Softmax-1 over a non-last axis (2-D coercion) becomes Flatten → Softmax → Reshape with identical outputs', async () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [3, 4, 5] });
    g.inputs.push(x);
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Softmax', name: 'softmax', inputs: [x], outputs: [y], attributes: [intAttr('axis', 1)] }));
    g.outputs.push(y);
    const bytes = encodeOnnx(onnxModel(g, 9));
    const m = decodeOnnx(bytes);
    raiseOpset(m, 13, new NameAllocator(m), 'hint');
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Shape', 'Flatten', 'Softmax', 'Reshape']);
    const feeds = { x: new ort.Tensor('float32', randomFloats(60, 12, 3), [3, 4, 5]) };
    const ref = (await runOnce(bytes, feeds)).y.data as Float32Array;
    const got = (await runOnce(encodeOnnx(m), feeds)).y.data as Float32Array;
    expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });
});
