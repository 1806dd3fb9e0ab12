/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * int8 / int4 weight quantization of float16 and bfloat16 weights keeps the
 * graph's types: DequantizeLinear with a float16 scale (opset 19), MatMulNBits
 * with float16 scales, and for bfloat16 a float32 DequantizeLinear followed by
 * Cast(to BFLOAT16) (onnxruntime 1.30 has no bfloat16 DequantizeLinear kernel
 * on CPU). Each result runs in onnxruntime; for one linear layer on random
 * inputs the output SQNR equals the weight SQNR to first order, so the test
 * holds the measured output SQNR to the weight SQNR the report gives, ±3 dB.
 * The reference is computed here in float64 from the float16 weights.
 */
import { Graph, halfToFloat, floatToHalf, floatToBfloat16, intAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import type { QuantizeOptions } from '../../src/passes';
import { randomFloats } from '../quantize/helpers';
import { matmul, run, sqnrDb } from './helpers';

const K = 128;
const N = 64;
const M = 8;
const W = Uint16Array.from(randomFloats(K * N, 21, 0.1), floatToHalf);
const X = Float32Array.from(randomFloats(M * K, 22, 1), (v) => halfToFloat(floatToHalf(v)));

/** x float16 [M, K] → MatMul(W float16 [K, N]) → y float16. */
function halfModel(): Model {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float16', shape: [M, K] });
  g.inputs.push(x);
  const w = g.addInitializer('W', Tensor.fromArray('float16', [K, N], W.slice(), 'W'));
  const y = new Value('y', { dtype: 'float16', shape: [M, N] });
  g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  return m;
}

const reference = matmul(X, Float32Array.from(W, halfToFloat), M, K, N);

async function quantizeAndRun(o: Partial<QuantizeOptions>): Promise<{ model: Model; sqnr: number; weightSqnr: number; form: string }> {
  const model = halfModel();
  const { changes } = runPass(quantizePass(resolveQuantizeOptions({ minElements: 0, ...o })), model, { toolVersion: 'test' });
  expect(changes.tensors).toHaveLength(1);
  expect(model.graph.outputs[0].dtype).toBe('float16');
  const y = (await run(model, { x: { data: X, dims: [M, K] } }, { x: 'float16' })).y;
  return { model, sqnr: sqnrDb(reference, y), weightSqnr: changes.tensors[0].sqnrDb as number, form: changes.tensors[0].form };
}

describe('quantizing float16 weights', () => {
  test('int8 per-channel: DequantizeLinear with a float16 scale at opset 19; output float16', async () => {
    const r = await quantizeAndRun({ bits: 8 });
    const dq = r.model.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
    expect(dq.inputs[1]!.const!.dtype).toBe('float16');
    expect(dq.outputs[0].dtype).toBe('float16');
    expect(r.model.opsetVersion('')).toBe(19);
    expect(r.form).toContain('float16');
    expect(Math.abs(r.sqnr - r.weightSqnr)).toBeLessThan(3);
  });

  test('int4 (q4f16): MatMulNBits with float16 scales, opset unchanged', async () => {
    const r = await quantizeAndRun({ bits: 4 });
    const mm = r.model.graph.nodes.find((n) => n.opType === 'MatMulNBits')!;
    expect(mm.inputs[2]!.const!.dtype).toBe('float16');
    expect(r.model.opsetVersion('')).toBe(17);
    expect(Math.abs(r.sqnr - r.weightSqnr)).toBeLessThan(3);
  });

  test('int4 qdq: blocked DequantizeLinear (opset 21) with float16 scales', async () => {
    const r = await quantizeAndRun({ bits: 4, int4Format: 'qdq' });
    const dq = r.model.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
    expect(dq.inputs[1]!.const!.dtype).toBe('float16');
    expect(r.model.opsetVersion('')).toBe(21);
    expect(Math.abs(r.sqnr - r.weightSqnr)).toBeLessThan(3);
  });

  test('dynamic mode takes the DequantizeLinear form (DynamicQuantizeLinear is float32-only)', async () => {
    const r = await quantizeAndRun({ bits: 8, mode: 'dynamic', granularity: 'channel' });
    expect(r.form).toMatch(/^DequantizeLinear int8/);
    expect(r.model.graph.nodes.some((n) => n.opType === 'MatMulInteger')).toBe(false);
    expect(Math.abs(r.sqnr - r.weightSqnr)).toBeLessThan(3);
  });
});

test('bfloat16 weights: DequantizeLinear to float32, then Cast(to BFLOAT16); runs in onnxruntime', async () => {
  const wf = randomFloats(K * N, 23, 0.1);
  const wb = Uint16Array.from(wf, floatToBfloat16);
  const g = new Graph();
  const x = new Value('x', { dtype: 'bfloat16', shape: [M, K] });
  g.inputs.push(x);
  const w = g.addInitializer('W', Tensor.fromArray('bfloat16', [K, N], wb.slice(), 'W'));
  const y = new Value('y', { dtype: 'bfloat16', shape: [M, N] });
  const mm = g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
  g.outputs.push(y);
  const model = new Model('onnx', g);
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: 17 }];
  const { changes } = runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0 })), model, { toolVersion: 'test' });
  const dq = g.nodes.find((n) => n.opType === 'DequantizeLinear')!;
  expect(dq.inputs[1]!.const!.dtype).toBe('float32');
  const cast = g.nodes.find((n) => n.opType === 'Cast' && n.inputs[0] === dq.outputs[0])!;
  expect(cast.attrInt('to')).toBe(16);
  expect(mm.inputs[1]).toBe(cast.outputs[0]);
  expect(model.opsetVersion('')).toBe(17);
  // onnxruntime's CPU provider has no bfloat16 MatMul, so check the dequantized weight itself:
  // replace the MatMul by a Cast of its bfloat16 B input to float32 and make that the output.
  g.removeNode(mm, true);
  const wOut = new Value('w_out', { dtype: 'float32', shape: [K, N] });
  g.addNode(new Node({ opType: 'Cast', name: 'to_float', inputs: [cast.outputs[0]], outputs: [wOut], attributes: [intAttr('to', 1)] }));
  g.inputs.length = 0;
  g.outputs.splice(0, 1, wOut);
  const got = (await run(model, {})).w_out;
  const ref = Float32Array.from(wb, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
  // The dequantized weight is rounded once more to bfloat16 (8-bit significand, about 50 dB): allow that on top.
  expect(sqnrDb(ref, got)).toBeGreaterThan((changes.tensors[0].sqnrDb as number) - 3);
});

describe('float16 weights whose scales would be subnormal in float16', () => {
  // Column 0 of the weight is 1e3 times smaller than the rest: its int8 scale (max/127 ≈ 8e-7) and
  // int4 scales are far below float16's smallest normal 2^-14, where a float16 scale keeps few bits.
  function tinyColumnModel(): Model {
    const m = halfModel();
    const w = m.graph.initializers[0].const!;
    const v = Float32Array.from(W, halfToFloat);
    for (let k = 0; k < K; k++) v[k * N] *= 1e-3;
    w.setData('float16', [K, N], { kind: 'bytes', bytes: new Uint8Array(Uint16Array.from(v, floatToHalf).buffer) });
    return m;
  }
  const tinyRef = (m: Model): Float64Array => matmul(X, m.graph.initializers[0].const!.toFloat32(), M, K, N);

  test('int8: DequantizeLinear keeps float32 scales and casts to float16, more accurate than a subnormal float16 scale', async () => {
    const m = tinyColumnModel();
    const ref = tinyRef(m);
    const { changes } = runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0 })), m, { toolVersion: 'test' });
    const dq = m.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
    expect(dq.inputs[1]!.const!.dtype).toBe('float32');
    expect(dq.attrInt('axis')).toBe(1);
    expect(m.graph.nodes.find((n) => n.opType === 'Cast' && n.inputs[0] === dq.outputs[0])!.attrInt('to')).toBe(10);
    expect(changes.tensors[0].form).toContain('→ float32 → Cast float16');
    const y = (await run(m, { x: { data: X, dims: [M, K] } }, { x: 'float16' })).y;
    // Column 0 alone, in a transcription of the two forms: float32 scale then float16 (what was written),
    // and a float16 scale (subnormal here) then float16 (what the fallback avoids).
    const q = dq.inputs[0]!.const!.typed() as Int8Array;
    const s = dq.inputs[1]!.const!.toFloat32();
    const h = (v: number): number => halfToFloat(floatToHalf(v));
    const column = (w: (k: number) => number): number[] => Array.from({ length: M }, (_, i) => {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += X[i * K + k] * w(k);
      return acc;
    });
    const refCol = Array.from({ length: M }, (_, i) => ref[i * N]);
    const written = column((k) => h(q[k * N] * s[0]));
    const halfScale = column((k) => h(q[k * N] * h(s[0])));
    expect(s[0]).toBeLessThan(2 ** -14);
    expect(sqnrDb(refCol, written)).toBeGreaterThan(sqnrDb(refCol, halfScale) + 6);
    // onnxruntime computes what the transcription says, up to the float16 rounding of the output (about 66 dB).
    expect(sqnrDb(written, Array.from({ length: M }, (_, i) => y[i * N]))).toBeGreaterThan(55);
  });

  test('int4: MatMulNBits is not used (float16 scales would be subnormal); DequantizeLinear instead', async () => {
    const m = tinyColumnModel();
    runPass(quantizePass(resolveQuantizeOptions({ bits: 4, minElements: 0 })), m, { toolVersion: 'test' });
    expect(m.graph.nodes.some((n) => n.opType === 'MatMulNBits')).toBe(false);
    const dq = m.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
    expect(dq.inputs[1]!.const!.dtype).toBe('float32');
    const y = (await run(m, { x: { data: X, dims: [M, K] } }, { x: 'float16' })).y;
    expect(y.every(Number.isFinite)).toBe(true);
  });
});
