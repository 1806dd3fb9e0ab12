/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Weight roles of the op registry, end to end: a small model per role is built
 * here, quantized by mc, and run in onnxruntime against the float model. Each
 * DequantizeLinear's axis, block size and scales are checked against an
 * independent computation: symmetric scale = float32(max|w| / qmax) over the
 * elements that share it (params.ts convention: qmax 127 for int8, 7 for int4).
 */
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx';
import { defaultOpRegistry, Graph, intAttr, Model, Node, stringAttr, Tensor, Value } from '../../src/ir';
import { QuantizeOptions, quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { floats } from '../helpers/onnx-build';
import { runOnce } from '../helpers/onnx-ort';
import { onnxModel, sqnr } from './helpers';

const CTX = { toolVersion: '9.9.9' };

function quantize(m: Model, o: Partial<QuantizeOptions>) {
  return runPass(quantizePass(resolveQuantizeOptions({ minElements: 0, ...o })), m, CTX).changes;
}

/** Uniform in [-scale, scale). */
function data(n: number, seed: number, scale: number): Float32Array {
  return floats(n, seed).map((v) => v * scale);
}

function init(g: Graph, name: string, shape: number[], values: Float32Array): Value {
  return g.addInitializer(name, Tensor.fromArray('float32', shape, values, name));
}

async function run(model: Model | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  const out = await runOnce(model instanceof Uint8Array ? model : encodeOnnx(model), feeds);
  return Object.values(out).map((t) => t.data as Float32Array);
}

/** The DequantizeLinear node whose output feeds input `index` of the node named `name`. */
function dqFeeding(m: Model, name: string, index: number): Node {
  const n = m.graph.nodes.find((x) => x.name === name)!;
  const dq = n.inputs[index]?.producer;
  if (!dq || dq.opType !== 'DequantizeLinear') throw new Error(`input ${index} of ${name} is not dequantized`);
  return dq;
}

/** axis and block_size attributes of a DequantizeLinear (undefined when absent). */
function dqAttrs(dq: Node): { axis?: number; block?: number } {
  const a = dq.attributes.get('axis');
  const b = dq.attributes.get('block_size');
  return { axis: a ? Number(a.value) : undefined, block: b ? Number(b.value) : undefined };
}

/**
 * Independent symmetric scales of `w` (shape `shape`): one per index of `axis`
 * (per channel), or per block of `block` along `axis` (scale shaped like w with
 * that axis ⌈D/block⌉ long), or one for the tensor (axis undefined).
 */
function expectedScales(w: Float32Array, shape: number[], qmax: number, axis?: number, block?: number): { shape: number[]; scales: Float32Array } {
  if (axis === undefined) {
    let m = 0;
    for (const v of w) m = Math.max(m, Math.abs(v));
    return { shape: [], scales: Float32Array.of(Math.fround(m / qmax)) };
  }
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const d = shape[axis];
  const outer = w.length / (inner * d);
  const nb = block ? Math.ceil(d / block) : d;
  const amax = new Float64Array(block ? outer * nb * inner : d);
  for (let i = 0; i < w.length; i++) {
    const o = Math.floor(i / (inner * d));
    const c = Math.floor(i / inner) % d;
    const g = block ? (o * nb + Math.floor(c / block)) * inner + (i % inner) : c;
    amax[g] = Math.max(amax[g], Math.abs(w[i]));
  }
  const s = [...shape];
  s[axis] = nb;
  return { shape: block ? s : [d], scales: Float32Array.from(amax, (m) => Math.fround(m / qmax)) };
}

/** The DequantizeLinear's axis, block size and scales equal the independent ones. */
function expectDq(dq: Node, w: Float32Array, shape: number[], qmax: number, axis?: number, block?: number): void {
  expect(dqAttrs(dq)).toEqual({ axis, block });
  const want = expectedScales(w, shape, qmax, axis, block);
  const scale = dq.inputs[1]!.const!;
  expect(scale.shape).toEqual(want.shape);
  expect(Array.from(scale.toFloat32())).toEqual(Array.from(want.scales));
}

const f32 = (values: Float32Array, dims: number[]) => new ort.Tensor('float32', values, dims);

describe('LSTM / GRU / RNN: W and R per gate row (axis 1), blocks along axis 2; B and P stay float', () => {
  const T = 6, B = 2, I = 64, H = 32, D = 2;
  function recurrent(opType: 'LSTM' | 'GRU' | 'RNN'): { m: Model; w: Float32Array; r: Float32Array; gates: number } {
    const gates = { LSTM: 4, GRU: 3, RNN: 1 }[opType];
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [T, B, I] });
    g.inputs.push(x);
    const w = data(D * gates * H * I, 11, 0.2);
    const r = data(D * gates * H * H, 12, 0.2);
    const inputs: (Value | null)[] = [
      x, init(g, 'W', [D, gates * H, I], w), init(g, 'R', [D, gates * H, H], r), init(g, 'B', [D, 2 * gates * H], data(D * 2 * gates * H, 13, 0.1)),
    ];
    if (opType === 'LSTM') inputs.push(null, null, null, init(g, 'P', [D, 3 * H], data(D * 3 * H, 14, 0.1)));
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType, name: 'rnn', inputs, outputs: [y], attributes: [intAttr('hidden_size', H), stringAttr('direction', 'bidirectional')] }));
    g.outputs.push(y);
    return { m: onnxModel(g), w, r, gates };
  }
  const feeds = { x: f32(data(T * B * I, 15, 1), [T, B, I]) };

  test.each([
    ['LSTM', 8], ['GRU', 8], ['RNN', 8], ['LSTM', 4], ['GRU', 4], ['RNN', 4],
  ] as const)('%s int%d', async (opType, bits) => {
    const { m, w, r, gates } = recurrent(opType);
    const ref = (await run(m, feeds))[0];
    const rep = quantize(m, bits === 8 ? { bits } : { bits, int4Format: 'qdq' });
    expect(rep.tensors.map((t) => t.name)).toEqual(['W', 'R']);
    const floatLeft = m.graph.initializers.map((v) => v.name).filter((n) => ['W', 'R', 'B', 'P'].includes(n));
    expect(floatLeft).toEqual(opType === 'LSTM' ? ['B', 'P'] : ['B']);
    const wShape = [D, gates * H, I];
    const rShape = [D, gates * H, H];
    if (bits === 8) {
      expectDq(dqFeeding(m, 'rnn', 1), w, wShape, 127, 1);
      expectDq(dqFeeding(m, 'rnn', 2), r, rShape, 127, 1);
    } else {
      expectDq(dqFeeding(m, 'rnn', 1), w, wShape, 7, 2, 32);
      expectDq(dqFeeding(m, 'rnn', 2), r, rShape, 7, 2, 32);
    }
    const got = (await run(m, feeds))[0];
    expect(sqnr(ref, got)).toBeGreaterThan(bits === 8 ? 35 : 17);
  });
});

describe('ConvTranspose: per output channel on axis 1 when group = 1; one scale per tensor when grouped', () => {
  const C = 32, K = 3;
  function convTranspose(group: number, outPerGroup: number): { m: Model; w: Float32Array; shape: number[] } {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [1, C, 5, 5] });
    g.inputs.push(x);
    const shape = [C, outPerGroup, K, K];
    const w = data(shape.reduce((a, b) => a * b, 1), 21, 0.2);
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'ConvTranspose', name: 'deconv', inputs: [x, init(g, 'W', shape, w), init(g, 'B', [outPerGroup * group], data(outPerGroup * group, 22, 0.1))],
      outputs: [y], attributes: [intAttr('group', group)] }));
    g.outputs.push(y);
    return { m: onnxModel(g), w, shape };
  }
  const feeds = { x: f32(data(C * 25, 23, 1), [1, C, 5, 5]) };

  test('onnxruntime puts W[c, m] of a grouped ConvTranspose in output channel (c / (C_in/group))·(C_out/group) + m', async () => {
    // Why axis 1 is not the output channel when group > 1: a W with one non-zero element shows where it lands.
    const group = 4, perGroup = 3;
    for (const [c, mm] of [[0, 0], [9, 2], [31, 1]]) {
      const { m } = convTranspose(group, perGroup);
      const wt = new Float32Array(C * perGroup * K * K);
      wt[(c * perGroup + mm) * K * K + 4] = 1;
      m.graph.initializers.find((v) => v.name === 'W')!.const = Tensor.fromArray('float32', [C, perGroup, K, K], wt, 'W');
      m.graph.initializers.find((v) => v.name === 'B')!.const = Tensor.fromArray('float32', [group * perGroup], new Float32Array(group * perGroup), 'B');
      const y = (await run(m, { x: f32(new Float32Array(C * 25).fill(1), [1, C, 5, 5]) }))[0];
      const plane = y.length / (group * perGroup);
      const hot = [...Array(group * perGroup).keys()].filter((o) => y.subarray(o * plane, (o + 1) * plane).some((v) => v !== 0));
      expect(hot).toEqual([Math.floor(c / (C / group)) * perGroup + mm]);
    }
  });

  test.each([
    // group, C_out/group, options, expected axis, block, qmax, min SQNR
    [1, 6, { bits: 8 }, 1, undefined, 127, 35],
    [4, 3, { bits: 8 }, undefined, undefined, 127, 35],
    [32, 1, { bits: 8 }, undefined, undefined, 127, 35],
    [1, 6, { bits: 4, blockSize: 16 }, 0, 16, 7, 17],
    [4, 3, { bits: 4, blockSize: 16 }, 0, 16, 7, 17],
  ] as const)('group %d, C_out/group %d, %j', async (group, perGroup, o, axis, block, qmax, minDb) => {
    const { m, w, shape } = convTranspose(group, perGroup);
    const ref = (await run(m, feeds))[0];
    const rep = quantize(m, o);
    expect(rep.tensors.map((t) => [t.name, t.granularity])).toEqual([['W', block ? 'block' : axis === undefined ? 'tensor' : 'channel']]);
    expectDq(dqFeeding(m, 'deconv', 1), w, shape, qmax, axis, block);
    const got = (await run(m, feeds))[0];
    expect(sqnr(ref, got)).toBeGreaterThan(minDb);
  });
});

describe('Gather on an embedding table: row-wise int8 / int4; an int64 shape table read by Gather is not a weight', () => {
  const V = 50, E = 64;
  function embedding(): { m: Model; table: Float32Array } {
    const g = new Graph();
    const ids = new Value('ids', { dtype: 'int64', shape: [2, 5] });
    g.inputs.push(ids);
    const table = data(V * E, 31, 0.5);
    const emb = new Value('emb', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Gather', name: 'embed', inputs: [init(g, 'table', [V, E], table), ids], outputs: [emb] }));
    // Reshape to [10, 64] with a shape gathered from an int64 table: Gather(shape_table, [0, 1]) → [10, 64].
    const shapeTable = g.addInitializer('shape_table', Tensor.fromArray('int64', [4], BigInt64Array.of(10n, 64n, 1n, 1n), 'shape_table'));
    const pick = g.addInitializer('pick', Tensor.fromArray('int64', [2], BigInt64Array.of(0n, 1n), 'pick'));
    const shape = new Value('shape', { dtype: 'int64' });
    g.addNode(new Node({ opType: 'Gather', name: 'shape_gather', inputs: [shapeTable, pick], outputs: [shape] }));
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Reshape', name: 'reshape', inputs: [emb, shape], outputs: [y] }));
    g.outputs.push(y);
    return { m: onnxModel(g), table };
  }
  const feeds = { ids: new ort.Tensor('int64', BigInt64Array.of(0n, 7n, 49n, 3n, 3n, 12n, 25n, 1n, 48n, 30n), [2, 5]) };

  test('the registry decides from dtype (float) and rank (2)', () => {
    const { m } = embedding();
    const [embed, shapeGather] = m.graph.nodes;
    expect(defaultOpRegistry.weightsOf(embed).map((w) => [w.value.name, w.spec.role, w.outAxis, w.inAxis])).toEqual([['table', 'embedding', 0, 1]]);
    expect(defaultOpRegistry.weightsOf(shapeGather)).toEqual([]);
    expect(defaultOpRegistry.refusedWeightsOf(shapeGather).map((r) => r.reason)).toEqual(['Gather data int64[4] is not an embedding table (a float matrix [vocab, dim])']);
  });

  test.each([
    // options, axis, block, qmax, min SQNR
    [{ bits: 8 }, 0, undefined, 127, 35],
    [{ bits: 4 }, 1, 32, 7, 17],
    [{ bits: 4, granularity: 'channel' }, 0, undefined, 7, 17],
  ] as const)('%j', async (o, axis, block, qmax, minDb) => {
    const { m, table } = embedding();
    const ref = (await run(m, feeds))[0];
    const rep = quantize(m, o);
    expect(rep.tensors.map((t) => t.name)).toEqual(['table']);
    expect(rep.skipped.map((s) => s.name)).not.toContain('shape_table');
    expect(m.graph.initializers.find((v) => v.name === 'shape_table')?.const?.dtype).toBe('int64');
    expectDq(dqFeeding(m, 'embed', 0), table, [V, E], qmax, axis, block);
    const got = (await run(m, feeds))[0];
    expect(got.length).toBe(10 * E);
    expect(sqnr(ref, got)).toBeGreaterThan(minDb);
  });
});

describe('MatMul with a constant A: out axis -2, reduction axis -1; int8 kernels that take B refuse it', () => {
  const M = 48, K = 64, N = 8;
  function constantA(): { m: Model; a: Float32Array } {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [K, N] });
    g.inputs.push(x);
    const a = data(M * K, 41, 0.2);
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [init(g, 'A', [M, K], a), x], outputs: [y] }));
    g.outputs.push(y);
    return { m: onnxModel(g), a };
  }
  const feeds = { x: f32(data(K * N, 42, 1), [K, N]) };

  test.each([
    // options, axis, block, qmax, min SQNR
    [{ bits: 8 }, 0, undefined, 127, 35],
    // dynamic int8 (MatMulInteger) takes the weight as B: A falls back to DequantizeLinear.
    [{ bits: 8, mode: 'dynamic' }, 0, undefined, 127, 35],
    // MatMulNBits takes the weight as B: A falls back to an int4 DequantizeLinear along K.
    [{ bits: 4 }, 1, 32, 7, 17],
  ] as const)('%j', async (o, axis, block, qmax, minDb) => {
    const { m, a } = constantA();
    const ref = (await run(m, feeds))[0];
    const rep = quantize(m, o);
    expect(rep.tensors.map((t) => [t.name, t.form])).toEqual([['A', `DequantizeLinear ${qmax === 7 ? 'int4' : 'int8'} axis=${axis}${block ? ` block=${block}` : ''}`]]);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['DequantizeLinear', 'MatMul']);
    expectDq(dqFeeding(m, 'mm', 0), a, [M, K], qmax, axis, block);
    const got = (await run(m, feeds))[0];
    expect(sqnr(ref, got)).toBeGreaterThan(minDb);
  });
});

describe('Einsum with a constant operand: axes from a plain-matmul equation; other equations are not a weight role', () => {
  const Bt = 2, S = 5, K = 64, N = 32;
  function einsum(equation: string, constant: 0 | 1, wShape: number[]): { m: Model; w: Float32Array } {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [Bt, S, K] });
    g.inputs.push(x);
    const w = data(wShape.reduce((a, b) => a * b, 1), 51, 0.2);
    const wv = init(g, 'W', wShape, w);
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Einsum', name: 'es', inputs: constant === 0 ? [wv, x] : [x, wv], outputs: [y], attributes: [stringAttr('equation', equation)] }));
    g.outputs.push(y);
    return { m: onnxModel(g), w };
  }
  const feeds = { x: f32(data(Bt * S * K, 52, 1), [Bt, S, K]) };

  test.each([
    // equation, constant operand, W shape, out axis, reduction (block) axis
    ['bij,jk->bik', 1, [K, N], 1, 0],
    ['bij,kj->bik', 1, [N, K], 0, 1],
    ['...ij,jk->...ik', 1, [K, N], 1, 0],
    ['bik,kj->bij', 1, [K, N], 1, 0],
    ['jk,bij->bik', 0, [K, N], 1, 0],
  ] as const)('%s (constant operand %d, %j): int8 along axis %d, int4 blocks along axis %d', async (equation, constant, wShape, outAxis, inAxis) => {
    for (const bits of [8, 4] as const) {
      const { m, w } = einsum(equation, constant, [...wShape]);
      const ref = (await run(m, feeds))[0];
      const rep = quantize(m, { bits });
      expect(rep.tensors.map((t) => t.name)).toEqual(['W']);
      if (bits === 8) expectDq(dqFeeding(m, 'es', constant), w, [...wShape], 127, outAxis);
      else expectDq(dqFeeding(m, 'es', constant), w, [...wShape], 7, inAxis, 32);
      const got = (await run(m, feeds))[0];
      expect(sqnr(ref, got)).toBeGreaterThan(bits === 8 ? 35 : 17);
    }
  });

  test('an elementwise Einsum (bij,ij->bij) leaves its constant float, and the registry says why', async () => {
    const { m } = einsum('bij,ij->bij', 1, [S, K]);
    const before = encodeOnnx(m);
    const ref = (await run(before, feeds))[0];
    const rep = quantize(m, { bits: 8 });
    expect(rep.tensors).toEqual([]);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Einsum']);
    expect(defaultOpRegistry.refusedWeightsOf(m.graph.nodes[0]).map((r) => r.reason)).toEqual(["Einsum 'bij,ij->bij' contracts 0 subscripts of the constant, not one"]);
    expect(sqnr(ref, (await run(m, feeds))[0])).toBe(Infinity);
  });
});
