/**
 * A small NCHW CNN in the fixture's shape (Conv→Relu→MaxPool→Conv→Relu→MaxPool→
 * Flatten→Gemm→Relu→Gemm), with seeded weights, built directly in the IR so the
 * prune tests do not depend on generated fixtures.
 */
import { intAttr, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

export interface CnnSpec { c1: number; c2: number; hidden: number; seed?: number; inChannels?: number }

export function buildCnn({ c1, c2, hidden, seed = 1, inChannels = 1 }: CnnSpec): Model {
  const r = rng(seed);
  const m = new Model('onnx');
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = m.graph;
  g.name = 'cnn';
  const x = new Value('x', { dtype: 'float32', shape: ['N', inChannels, 28, 28] });
  g.inputs.push(x);
  const w = (name: string, shape: number[], scale: number): Value => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = r() * 2 * scale;
    return g.addInitializer(name, Tensor.fromArray('float32', shape, data, name));
  };
  let k = 0;
  const node = (opType: string, inputs: (Value | null)[], attrs: ReturnType<typeof intAttr>[] = [], name = `${opType.toLowerCase()}${k++}`): Value => {
    const out = new Value(`${name}_out`);
    g.addNode(new Node({ opType, name, inputs, outputs: [out], attributes: attrs }));
    return out;
  };
  const pool = [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])];
  let h = node('Conv', [x, w('conv1.w', [c1, inChannels, 3, 3], 0.6), w('conv1.b', [c1], 0.1)], [intsAttr('kernel_shape', [3, 3])], 'conv1');
  h = node('MaxPool', [node('Relu', [h])], pool);
  h = node('Conv', [h, w('conv2.w', [c2, c1, 3, 3], 0.3), w('conv2.b', [c2], 0.1)], [intsAttr('kernel_shape', [3, 3])], 'conv2');
  h = node('MaxPool', [node('Relu', [h])], pool);
  h = node('Flatten', [h], [intAttr('axis', 1)]);
  h = node('Gemm', [h, w('fc1.w', [hidden, c2 * 25], 0.1), w('fc1.b', [hidden], 0.1)], [intAttr('transB', 1)], 'fc1');
  h = node('Gemm', [node('Relu', [h]), w('fc2.w', [hidden, 10], 0.3), w('fc2.b', [10], 0.1)], [], 'fc2');
  h.dtype = 'float32';
  h.shape = ['N', 10];
  g.outputs.push(h);
  return m;
}

/** Deterministic NCHW input batch in [0, 1). */
export function inputBatch(n: number, seed = 7, channels = 1): Float32Array {
  const r = rng(seed);
  const d = new Float32Array(n * channels * 28 * 28);
  for (let i = 0; i < d.length; i++) d[i] = r() + 0.5;
  return d;
}
