/** Shared helpers for calibration and static-quantization tests: seeded data, .npy writing, a small CNN in IR. */
import * as fs from 'fs';
import { floatAttr, Graph, intAttr, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { mulberry32 } from '../../src/util/prng';
import { npyHeader } from '../data/helpers';

/** mulberry32: a seeded uniform generator in [0, 1). */
export const rng = mulberry32;

/** Standard normal samples (Box–Muller over mulberry32). */
export function normal(n: number, seed: number, sigma = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const th = 2 * Math.PI * u();
    out[i] = sigma * r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = sigma * r * Math.sin(th);
  }
  return out;
}

/** Laplace(0, b) samples by inverse CDF. */
export function laplace(n: number, seed: number, b = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = u() - 0.5;
    out[i] = -b * Math.sign(p) * Math.log(1 - 2 * Math.abs(p));
  }
  return out;
}

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * u();
  return out;
}

/** Writes a float32 C-order .npy (format 1.0, header from test/data/helpers' npyHeader). */
export function writeNpy(path: string, data: Float32Array, shape: number[]): void {
  fs.writeFileSync(path, Buffer.concat([npyHeader('<f4', shape), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function init(g: Graph, name: string, shape: number[], data: Float32Array): Value {
  return g.addInitializer(name, Tensor.fromArray('float32', shape, data, name));
}

/**
 * The fixture CNN's architecture with seeded weights, NCHW:
 * Conv(c1,3x3) → Relu → MaxPool 2 → Conv(c2,3x3) → Relu → MaxPool 2 → Flatten → Gemm(64) → Relu → Gemm(10).
 * `size` is the input height/width; intermediate tensors carry no shape (as without shape inference).
 */
export function buildCnn(seed = 1, c1 = 16, c2 = 32, size = 28, batch: number | string = 'N'): Model {
  const g = new Graph();
  g.name = 'cnn';
  const x = new Value('input', { dtype: 'float32', shape: [batch, 1, size, size] });
  g.inputs.push(x);
  const he = (fanIn: number, n: number, s: number): Float32Array => normal(n, s, Math.sqrt(2 / fanIn));
  const w1 = init(g, 'conv1.weight', [c1, 1, 3, 3], he(9, c1 * 9, seed + 1));
  const b1 = init(g, 'conv1.bias', [c1], normal(c1, seed + 2, 0.05));
  const w2 = init(g, 'conv2.weight', [c2, c1, 3, 3], he(9 * c1, c2 * c1 * 9, seed + 3));
  const b2 = init(g, 'conv2.bias', [c2], normal(c2, seed + 4, 0.05));
  const s2 = Math.floor((Math.floor((size - 2) / 2) - 2) / 2);
  const flat = c2 * s2 * s2;
  const w3 = init(g, 'fc1.weight', [64, flat], he(flat, 64 * flat, seed + 5));
  const b3 = init(g, 'fc1.bias', [64], normal(64, seed + 6, 0.05));
  const w4 = init(g, 'fc2.weight', [10, 64], he(64, 640, seed + 7));
  const b4 = init(g, 'fc2.bias', [10], normal(10, seed + 8, 0.05));
  const v = (name: string): Value => new Value(name);
  const ks = intsAttr('kernel_shape', [3, 3]);
  const add = (op: string, name: string, inputs: Value[], attrs: ReturnType<typeof intAttr>[] = []): Value => {
    const out = v(`${name}_out`);
    g.addNode(new Node({ opType: op, name, inputs, outputs: [out], attributes: attrs }));
    return out;
  };
  let h = add('Conv', 'conv1', [x, w1, b1], [ks]);
  h = add('Relu', 'relu1', [h]);
  h = add('MaxPool', 'pool1', [h], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])]);
  h = add('Conv', 'conv2', [h, w2, b2], [ks]);
  h = add('Relu', 'relu2', [h]);
  h = add('MaxPool', 'pool2', [h], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])]);
  h = add('Flatten', 'flatten', [h], [intAttr('axis', 1)]);
  h = add('Gemm', 'fc1', [h, w3, b3], process.env.BETA ? [intAttr('transB', 1), floatAttr('beta', 1)] : [intAttr('transB', 1)]);
  h = add('Relu', 'relu3', [h]);
  const logits = new Value('logits', { dtype: 'float32', shape: [batch, 10] });
  g.addNode(new Node({ opType: 'Gemm', name: 'fc2', inputs: [h, w4, b4], outputs: [logits], attributes: [intAttr('transB', 1)] }));
  g.outputs.push(logits);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  m.producerName = 'mc-test';
  return m;
}
