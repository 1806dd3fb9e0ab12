/** Small IR model builders and an ORT runner for the quantize tests. */
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx';
import { Graph, intAttr, Model, Node, Tensor, Value } from '../../src/ir';

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32). */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export function weight(g: Graph, name: string, shape: number[], data: Float32Array): Value {
  return g.addInitializer(name, Tensor.fromArray('float32', shape, data, name));
}

export function onnxModel(graph: Graph, opset = 13): Model {
  const m = new Model('onnx', graph);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: opset }];
  m.producerName = 'test';
  return m;
}

/** x[batch, K] → MatMul(W1[K,H]) → Relu → Gemm(W2[O,H], transB=1, bias) → y. */
export function mlp(k: number, h: number, o: number, opset = 13): Model {
  const g = new Graph();
  g.name = 'mlp';
  const x = new Value('x', { dtype: 'float32', shape: ['batch', k] });
  g.inputs.push(x);
  const w1 = weight(g, 'w1', [k, h], randomFloats(k * h, 1, 0.2));
  const w2 = weight(g, 'w2', [o, h], randomFloats(o * h, 2, 0.2));
  const b2 = weight(g, 'b2', [o], randomFloats(o, 3, 0.1));
  const h1 = new Value('h1', { dtype: 'float32' });
  const r1 = new Value('r1', { dtype: 'float32' });
  const y = new Value('y', { dtype: 'float32', shape: ['batch', o] });
  g.addNode(new Node({ opType: 'MatMul', name: 'fc1', inputs: [x, w1], outputs: [h1] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [h1], outputs: [r1] }));
  g.addNode(new Node({ opType: 'Gemm', name: 'fc2', inputs: [r1, w2, b2], outputs: [y], attributes: [intAttr('transB', 1)] }));
  g.outputs.push(y);
  return onnxModel(g, opset);
}

/** x[N,C,8,8] → Conv(W[M,C,3,3], bias, pads 1) → y. */
export function conv(c: number, m: number, opset = 13): Model {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['N', c, 8, 8] });
  g.inputs.push(x);
  const w = weight(g, 'cw', [m, c, 3, 3], randomFloats(m * c * 9, 4, 0.3));
  const b = weight(g, 'cb', [m], randomFloats(m, 5, 0.1));
  const y = new Value('y', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Conv', name: 'conv', inputs: [x, w, b], outputs: [y], attributes: [
    { name: 'pads', type: 'ints', value: [1n, 1n, 1n, 1n] }, { name: 'kernel_shape', type: 'ints', value: [3n, 3n] },
  ] }));
  g.outputs.push(y);
  return onnxModel(g, opset);
}

/** `session` holds onnxruntime session config entries without their 'session.' prefix (e.g. x64quantprecision). */
export async function runOrt(model: Model | Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>, opt: 'all' | 'disabled' = 'all', session?: Record<string, string>): Promise<Float32Array[]> {
  const bytes = model instanceof Uint8Array ? model : encodeOnnx(model);
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: opt, intraOpNumThreads: 1, ...(session ? { extra: { session } } : {}) });
  const f: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', v.data, v.dims);
  const out = await s.run(f);
  const res = s.outputNames.map((n) => out[n].data as Float32Array);
  await s.release();
  return res;
}

/** Output SQNR in dB of `got` against `ref`. */
export function sqnr(ref: Float32Array, got: Float32Array): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i] * ref[i];
    e += (ref[i] - got[i]) ** 2;
  }
  return 10 * Math.log10(s / e);
}

/** Fraction of rows whose arg-max agrees. */
export function top1Agreement(a: Float32Array, b: Float32Array, classes: number): number {
  const n = a.length / classes;
  let same = 0;
  for (let r = 0; r < n; r++) if (argmax(a, r * classes, classes) === argmax(b, r * classes, classes)) same++;
  return same / n;
}

export function argmax(a: Float32Array, off: number, len: number): number {
  let best = 0;
  for (let i = 1; i < len; i++) if (a[off + i] > a[off + best]) best = i;
  return best;
}
