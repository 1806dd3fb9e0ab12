/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * float32 → float16 conversion (passes/float16) on a model built here that has
 * every kind of thing the pass must handle: an initializer weight, Constant
 * nodes (`value` and `value_float`), ops kept in float32 by the block list
 * (Max, Min) with one value feeding two of them, an If whose branches read
 * outer values, one of them through a blocked op, a Cast(to FLOAT), and a
 * small constant read only in float32. The converted model runs in
 * onnxruntime and its outputs are compared with the same network computed
 * here in float64 (a transcription, independent of onnxruntime and mc).
 */
import { Graph, intAttr, Model, Node, Tensor, Value, floatAttr } from '../../src/ir';
import { convertFloat16, Float16Options } from '../../src/passes/float16';
import { randomFloats } from '../quantize/helpers';
import { castsOf, matmul, run, sqnrDb } from './helpers';

const K = 64;
const H = 32;
const O = 8;
const B = 4;
const W1 = randomFloats(K * H, 11, 0.2);
const C1 = randomFloats(H, 12, 0.1);
const W2 = randomFloats(H * O, 13, 0.3);
const W3 = randomFloats(H * O, 14, 0.3);
const BIAS = randomFloats(O, 15, 0.05);
const X = randomFloats(B * K, 16, 1);

/**
 * x[B,K] → MatMul W1 → Add Constant C1 → Relu = r;  y1 = Max(r, 0.2·r) + Min(r, 6)
 * If(flag): then y1·W2, else Max(y1·W3, bias);  y = Cast(to FLOAT)(that).
 */
function buildModel(): Model {
  const g = new Graph();
  g.name = 'f16';
  const x = new Value('x', { dtype: 'float32', shape: [B, K] });
  const flag = new Value('flag', { dtype: 'bool', shape: [] });
  g.inputs.push(x, flag);
  const w1 = g.addInitializer('W1', Tensor.fromArray('float32', [K, H], W1.slice(), 'W1'));
  const w2 = g.addInitializer('W2', Tensor.fromArray('float32', [H, O], W2.slice(), 'W2'));
  const w3 = g.addInitializer('W3', Tensor.fromArray('float32', [H, O], W3.slice(), 'W3'));
  const bias = g.addInitializer('bias', Tensor.fromArray('float32', [O], BIAS.slice(), 'bias'));
  const v = (name: string): Value => new Value(name);
  const [h, c1, a, r, slope, rs, mx, six, mn, y1, yIf] = ['h', 'c1', 'a', 'r', 'slope', 'rs', 'mx', 'six', 'mn', 'y1', 'y_if'].map(v);
  g.addNode(new Node({ opType: 'MatMul', name: 'mm1', inputs: [x, w1], outputs: [h] }));
  g.addNode(new Node({ opType: 'Constant', name: 'c1', outputs: [c1], attributes: [{ name: 'value', type: 'tensor', value: Tensor.fromArray('float32', [H], C1.slice(), '') }] }));
  g.addNode(new Node({ opType: 'Add', name: 'add1', inputs: [h, c1], outputs: [a] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [a], outputs: [r] }));
  g.addNode(new Node({ opType: 'Constant', name: 'slope', outputs: [slope], attributes: [floatAttr('value_float', 0.2)] }));
  g.addNode(new Node({ opType: 'Mul', name: 'mul', inputs: [r, slope], outputs: [rs] }));
  g.addNode(new Node({ opType: 'Max', name: 'max', inputs: [r, rs], outputs: [mx] }));
  g.addNode(new Node({ opType: 'Constant', name: 'six', outputs: [six], attributes: [floatAttr('value_float', 6)] }));
  g.addNode(new Node({ opType: 'Min', name: 'min', inputs: [r, six], outputs: [mn] }));
  g.addNode(new Node({ opType: 'Add', name: 'add2', inputs: [mx, mn], outputs: [y1] }));

  const thenG = new Graph();
  thenG.name = 'then';
  const tOut = new Value('then_out', { dtype: 'float32', shape: [B, O] });
  thenG.addNode(new Node({ opType: 'MatMul', name: 'then_mm', inputs: [y1, w2], outputs: [tOut] }));
  thenG.outputs.push(tOut);
  const elseG = new Graph();
  elseG.name = 'else';
  const e1 = new Value('else_mm_out');
  const eOut = new Value('else_out', { dtype: 'float32', shape: [B, O] });
  elseG.addNode(new Node({ opType: 'MatMul', name: 'else_mm', inputs: [y1, w3], outputs: [e1] }));
  elseG.addNode(new Node({ opType: 'Max', name: 'else_max', inputs: [e1, bias], outputs: [eOut] }));
  elseG.outputs.push(eOut);
  g.addNode(new Node({ opType: 'If', name: 'if', inputs: [flag], outputs: [yIf], attributes: [
    { name: 'then_branch', type: 'graph', value: thenG }, { name: 'else_branch', type: 'graph', value: elseG },
  ] }));
  const y = new Value('y', { dtype: 'float32', shape: [B, O] });
  g.addNode(new Node({ opType: 'Cast', name: 'cast_out', inputs: [yIf], outputs: [y], attributes: [intAttr('to', 1)] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  return m;
}

/** The network in float64, from the same float32 numbers. */
function reference(flag: boolean): Float64Array {
  const h = matmul(X, W1, B, K, H);
  const y1 = new Float64Array(B * H);
  for (let i = 0; i < B * H; i++) {
    const r = Math.max(0, h[i] + C1[i % H]);
    y1[i] = Math.max(r, Math.fround(0.2) * r) + Math.min(r, 6);
  }
  if (flag) return matmul(y1, W2, B, H, O);
  const z = matmul(y1, W3, B, H, O);
  return z.map((zi, i) => Math.max(zi, BIAS[i % O]));
}

const opts = (o: Partial<Float16Options> = {}): Float16Options => ({ keepIoTypes: false, blockOps: [], blockNodes: [], ...o });

describe('convertFloat16', () => {
  test('the float32 model matches the float64 transcription (checks the reference itself)', async () => {
    for (const flag of [true, false]) {
      const y = (await run(buildModel(), { x: { data: X, dims: [B, K] }, flag: { bool: flag } })).y;
      expect(sqnrDb(reference(flag), y)).toBeGreaterThan(100);
    }
  });

  test('keepIoTypes: float32 interface, float16 inside, ≥ 40 dB against the float64 reference', async () => {
    const m = buildModel();
    const { changes: r } = convertFloat16(m, opts({ keepIoTypes: true }));
    const g = m.graph;
    expect(g.inputs[0].dtype).toBe('float32');
    expect(g.outputs.map((o) => [o.name, o.dtype])).toEqual([['y', 'float32']]);
    // Weights read in float16 are stored in float16; the small bias read only by the blocked Max stays float32.
    const init = Object.fromEntries(g.initializers.map((v) => [v.name, v.const!.dtype]));
    expect(init).toEqual({ W1: 'float16', W2: 'float16', W3: 'float16', bias: 'float32' });
    // r feeds two blocked ops (Max, Min): one shared Cast to float32.
    expect(castsOf(g.nodes, 'r', 1)).toHaveLength(1);
    expect(g.nodes.find((n) => n.name === 'max')!.inputs[0]).toBe(g.nodes.find((n) => n.name === 'min')!.inputs[0]);
    // The blocked Max inside the else branch gets its Cast in, and the branch output a Cast back to float16.
    const elseG = g.nodes.find((n) => n.opType === 'If')!.attributes.get('else_branch')!.value as Graph;
    expect(castsOf(elseG.nodes, 'else_mm_out', 1)).toHaveLength(1);
    expect(castsOf(elseG.nodes, 'else_out', 10)).toHaveLength(1);
    // The model's own Cast(to FLOAT) now casts to FLOAT16; the output Cast back to float32 is the pass's.
    expect(g.nodes.find((n) => n.name === 'cast_out')!.attrInt('to')).toBe(10);
    expect(r.kept.map((k) => k.opType).sort()).toEqual(['Max', 'Min']);
    expect(r.kept.find((k) => k.opType === 'Max')!.nodes).toBe(2);
    for (const flag of [true, false]) {
      const y = (await run(m, { x: { data: X, dims: [B, K] }, flag: { bool: flag } })).y;
      expect(sqnrDb(reference(flag), y)).toBeGreaterThan(40);
    }
  });

  test('default: float16 inputs and outputs under the same names', async () => {
    const m = buildModel();
    convertFloat16(m, opts());
    expect(m.graph.inputs.map((v) => [v.name, v.dtype])).toEqual([['x', 'float16'], ['flag', 'bool']]);
    expect(m.graph.outputs.map((v) => [v.name, v.dtype])).toEqual([['y', 'float16']]);
    for (const flag of [true, false]) {
      const y = (await run(m, { x: { data: X, dims: [B, K] }, flag: { bool: flag } }, { x: 'float16' })).y;
      // The input itself is rounded to float16 here, which the reference does not see: still well above 40 dB.
      expect(sqnrDb(reference(flag), y)).toBeGreaterThan(40);
    }
  });

  test('--fp16-block-ops keeps the named ops in float32 with Casts at their boundary', async () => {
    const m = buildModel();
    // A second output z = y1·y1 keeps y1 in float16 (without it, y1 would sit between float32 ops only and stay float32).
    const y1 = m.graph.nodes.find((n) => n.name === 'add2')!.outputs[0];
    const z = new Value('z', { dtype: 'float32', shape: [B, H] });
    m.graph.addNode(new Node({ opType: 'Mul', name: 'square', inputs: [y1, y1], outputs: [z] }));
    m.graph.outputs.push(z);
    const { changes: r } = convertFloat16(m, opts({ blockOps: ['MatMul'] }));
    // y1 is read by the blocked MatMuls of both If branches: one Cast, in the main graph, read through the outer scope.
    expect(castsOf(m.graph.nodes, 'y1', 1)).toHaveLength(1);
    const iff = m.graph.nodes.find((n) => n.opType === 'If')!;
    const branchMatMul = (b: string): Node => (iff.attributes.get(b)!.value as Graph).nodes.find((n) => n.opType === 'MatMul')!;
    expect(branchMatMul('then_branch').inputs[0]).toBe(castsOf(m.graph.nodes, 'y1', 1)[0].outputs[0]);
    expect(branchMatMul('else_branch').inputs[0]).toBe(branchMatMul('then_branch').inputs[0]);
    expect(r.kept.find((k) => k.opType === 'MatMul')?.nodes).toBe(3);
    // The MatMul weights are still stored in float16 (they are ≥ SMALL_CONSTANT elements) and widened by a Cast.
    expect(m.graph.initializers.find((v) => v.name === 'W1')!.const!.dtype).toBe('float16');
    expect(castsOf(m.graph.nodes, 'W1', 1)).toHaveLength(1);
    // The float16 model input is widened once for the float32 MatMul.
    expect(castsOf(m.graph.nodes, 'x', 1)).toHaveLength(1);
    for (const flag of [true, false]) {
      const y = (await run(m, { x: { data: X, dims: [B, K] }, flag: { bool: flag } }, { x: 'float16' })).y;
      expect(sqnrDb(reference(flag), y)).toBeGreaterThan(40);
    }
  });

  test('a constant beyond float16 range stays float32 and so does its consumer', async () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: [1, 4] });
    g.inputs.push(x);
    const n = 512;
    const big = randomFloats(n, 4);
    big.set([1e6, -2e5, 3, 70000]);
    const k = g.addInitializer('big', Tensor.fromArray('float32', [n], big.slice(), 'big'));
    // A weight of ≥ SMALL_CONSTANT elements, so that the MatMul computes in float16 and the Add's input is cast.
    const w = g.addInitializer('w', Tensor.fromArray('float32', [4, n], randomFloats(4 * n, 3), 'w'));
    const a = new Value('a');
    const y = new Value('y', { dtype: 'float32', shape: [1, n] });
    g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [a] }));
    g.addNode(new Node({ opType: 'Add', name: 'add', inputs: [a, k], outputs: [y] }));
    g.outputs.push(y);
    const m = new Model('onnx', g);
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 17 }];
    const { changes: r } = convertFloat16(m, opts({ keepIoTypes: true }));
    expect(k.const!.dtype).toBe('float32');
    expect(r.kept).toEqual([{ opType: 'Add', nodes: 1, reason: expect.stringContaining("beyond float16's range") }]);
    const xs = Float32Array.from([0.5, -1, 2, 0.25]);
    const got = (await run(m, { x: { data: xs, dims: [1, 4] } })).y;
    expect(w.const!.dtype).toBe('float16');
    const ref = matmul(xs, w.const!.toFloat32(), 1, 4, n).map((v, i) => v + big[i]);
    // Only the float16 MatMul rounds (its weight is compared as stored): the large constants pass exactly.
    expect(sqnrDb(ref, got)).toBeGreaterThan(100);
    expect(got[0]).toBeCloseTo(ref[0], 0);
  });

  test('Loop: carried values and the body follow the node (float16), outer weights read in the body', async () => {
    // v ← Max(v·W, floor) three times (Max is blocked: a Cast in and out inside the body).
    const n = 32;
    const w0 = randomFloats(n * n, 31, 0.3);
    const floor0 = randomFloats(n, 32, 0.01);
    const v0 = randomFloats(n, 33, 1);
    const g = new Graph();
    const v = new Value('v', { dtype: 'float32', shape: [1, n] });
    g.inputs.push(v);
    const w = g.addInitializer('W', Tensor.fromArray('float32', [n, n], w0.slice(), 'W'));
    const floor = g.addInitializer('floor', Tensor.fromArray('float32', [n], floor0.slice(), 'floor'));
    const trip = g.addInitializer('trip', Tensor.fromArray('int64', [], BigInt64Array.from([3n]), 'trip'));
    const body = new Graph();
    body.name = 'body';
    const iter = new Value('iter', { dtype: 'int64', shape: [] });
    const condIn = new Value('cond_in', { dtype: 'bool', shape: [] });
    const vIn = new Value('v_in', { dtype: 'float32', shape: [1, n] });
    body.inputs.push(iter, condIn, vIn);
    const condOut = new Value('cond_out', { dtype: 'bool', shape: [] });
    const prod = new Value('prod');
    const vOut = new Value('v_out', { dtype: 'float32', shape: [1, n] });
    body.addNode(new Node({ opType: 'Identity', name: 'cond', inputs: [condIn], outputs: [condOut] }));
    body.addNode(new Node({ opType: 'MatMul', name: 'body_mm', inputs: [vIn, w], outputs: [prod] }));
    body.addNode(new Node({ opType: 'Max', name: 'body_max', inputs: [prod, floor], outputs: [vOut] }));
    body.outputs.push(condOut, vOut);
    const y = new Value('y', { dtype: 'float32', shape: [1, n] });
    g.addNode(new Node({ opType: 'Loop', name: 'loop', inputs: [trip, null, v], outputs: [y], attributes: [{ name: 'body', type: 'graph', value: body }] }));
    g.outputs.push(y);
    const m = new Model('onnx', g);
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 17 }];
    convertFloat16(m, opts());
    expect(body.inputs.map((b) => b.dtype)).toEqual(['int64', 'bool', 'float16']);
    expect(body.outputs[1].dtype).toBe('float16');
    expect(castsOf(body.nodes, 'prod', 1)).toHaveLength(1);
    expect(w.const!.dtype).toBe('float16');
    let ref = Float64Array.from(v0);
    for (let i = 0; i < 3; i++) ref = matmul(ref, w0, 1, n, n).map((x, j) => Math.max(x, floor0[j]));
    const got = (await run(m, { v: { data: v0, dims: [1, n] } }, { v: 'float16' })).y;
    expect(sqnrDb(ref, got)).toBeGreaterThan(40);
  });
});
