import { Graph, intAttr, Model, Node, Tensor, Value } from '../../src/ir';

/** Deterministic pseudo-random floats (LCG), so tests need no fixtures. */
export function floats(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Y = X·W + B with X [1, k], W [k, n] (k·n·4 bytes), B [n]; IR v8, opset 17. */
export function buildLinearModel(k = 64, n = 32): Model {
  const g = new Graph();
  g.name = 'linear';
  const x = new Value('X', { dtype: 'float32', shape: [1, k] });
  g.inputs.push(x);
  const w = g.addInitializer('W', Tensor.fromArray('float32', [k, n], floats(k * n, 7), 'W'));
  const b = g.addInitializer('B', Tensor.fromArray('float32', [n], floats(n, 9), 'B'));
  const h = new Value('H');
  const y = new Value('Y', { dtype: 'float32', shape: [1, n] });
  g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [h] }));
  g.addNode(new Node({ opType: 'Add', name: 'add', inputs: [h, b], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  m.producerName = 'mc-test';
  return m;
}

/** Y = X + DequantizeLinear(Wq int4 [rows, cols], scale [rows, cols/block], axis=1, block_size) at opset 21. */
export function buildInt4DequantModel(q: Int8Array, rows: number, cols: number, scales: Float32Array, block: number): Model {
  const g = new Graph();
  const x = new Value('X', { dtype: 'float32', shape: [rows, cols] });
  g.inputs.push(x);
  const packed = new Uint8Array((q.length + 1) >> 1);
  for (let i = 0; i < q.length; i++) packed[i >> 1] |= (q[i] & 0x0f) << (i & 1 ? 4 : 0);
  const wq = g.addInitializer('Wq', Tensor.fromBytes('int4', [rows, cols], packed, 'Wq'));
  const sc = g.addInitializer('scale', Tensor.fromArray('float32', [rows, cols / block], scales, 'scale'));
  const w = new Value('W');
  const y = new Value('Y', { dtype: 'float32', shape: [rows, cols] });
  g.addNode(new Node({ opType: 'DequantizeLinear', name: 'dq', inputs: [wq, sc], outputs: [w], attributes: [intAttr('axis', 1), intAttr('block_size', block)] }));
  g.addNode(new Node({ opType: 'Add', name: 'add', inputs: [x, w], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 10;
  m.opsetImports = [{ domain: '', version: 21 }];
  return m;
}
