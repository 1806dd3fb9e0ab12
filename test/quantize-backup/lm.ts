/**
 * A small language model built in the test (Gather → MatMul → Relu → MatMul → lm head
 * MatMul + bias) and perplexity computed here from onnxruntime's logits, with labels
 * drawn (seeded) from the float model's own next-token distribution: the float model
 * is the true one, so a model's expected perplexity rises with its distance (KL) from it.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx';
import { Graph, Model, Node, Tensor, Value } from '../../src/ir';
import { runOnce } from '../helpers/onnx-ort';
import { onnxModel, randomFloats } from '../quantize/helpers';

export const V = 48, D = 64, F = 128, N = 32, T = 16;

/** Gaussian-like weights with a heavy tail (a sum of uniforms, a few values scaled up), so 4 bits cost something. */
function weights(n: number, seed: number, scale: number): Float32Array {
  const a = randomFloats(n, seed), b = randomFloats(n, seed + 1), c = randomFloats(n, seed + 2);
  return a.map((x, i) => (x + b[i] + c[i]) * scale * (i % 61 === 0 ? 4 : 1));
}

export function buildLm(): Model {
  const g = new Graph();
  const input = new Value('ids', { dtype: 'int64', shape: ['N', T] });
  g.inputs.push(input);
  const w = (name: string, shape: number[], seed: number, scale: number): Value => g.addInitializer(name, Tensor.fromArray('float32', shape, weights(shape[0] * (shape[1] ?? 1), seed, scale), name));
  const v = (name: string): Value => new Value(name);
  const [e, h1, r1, h2, z, logits] = [v('e'), v('h1'), v('r1'), v('h2'), v('z'), new Value('logits', { dtype: 'float32', shape: ['N', T, V] })];
  g.addNode(new Node({ opType: 'Gather', name: 'embed', inputs: [w('tok_emb', [V, D], 11, 0.6), input], outputs: [e] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc1', inputs: [e, w('fc1.weight', [D, F], 21, 0.15)], outputs: [h1] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [h1], outputs: [r1] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc2', inputs: [r1, w('fc2.weight', [F, D], 31, 0.12)], outputs: [h2] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'lm_head', inputs: [h2, w('lm_head.weight', [D, V], 41, 0.5)], outputs: [z] }));
  g.addNode(new Node({ opType: 'Add', name: 'lm_head_bias', inputs: [z, w('lm_head.bias', [V], 51, 0.1)], outputs: [logits] }));
  g.outputs.push(logits);
  return onnxModel(g, 17);
}

export function ids(seed = 77, n = N): BigInt64Array {
  const r = randomFloats(n * T, seed);
  return BigInt64Array.from(r, (x) => BigInt(Math.floor(((x + 1) / 2) * V) % V));
}

function idsTensor(): ort.Tensor {
  return new ort.Tensor('int64', ids(), [N, T]);
}

export async function logitsOf(m: Model): Promise<Float32Array> {
  const out = await runOnce(encodeOnnx(m), { ids: idsTensor() });
  return out.logits.data as Float32Array;
}

/** Next tokens drawn (seeded) from the float model's softmax. */
export function sampleLabels(logits: Float32Array): Int32Array {
  const u = randomFloats(N * T, 99);
  const labels = new Int32Array(N * T);
  for (let i = 0; i < N * T; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const max = Math.max(...row);
    const p = Array.from(row, (x) => Math.exp(x - max));
    const sum = p.reduce((a, b) => a + b, 0);
    let acc = 0, k = 0;
    const target = ((u[i] + 1) / 2) * sum;
    for (; k < V - 1; k++) { acc += p[k]; if (acc >= target) break; }
    labels[i] = k;
  }
  return labels;
}

export function perplexity(logits: Float32Array, labels: Int32Array): number {
  let nll = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(Array.from(row, (x) => Math.exp(x - max)).reduce((a, b) => a + b, 0));
    nll += lse - row[labels[i]];
  }
  return Math.exp(nll / labels.length);
}


/** A C-order int64 .npy of `n` token windows (seeded; a seed other than the evaluation's), for calibration. */
export function idsNpy(seed: number, n: number): Buffer {
  let header = `{'descr': '<i8', 'fortran_order': False, 'shape': (${n}, ${T}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(ids(seed, n).buffer)]);
}

/** Perplexity of a model of the char LM fixture's form on its held-out windows (fixtures/lm-eval-*.npy), from onnxruntime's logits. */
export async function fixturePerplexity(m: Model, root: string): Promise<number> {
  const read = (f: string): { data: BigInt64Array; shape: number[] } => {
    const b = fs.readFileSync(path.join(root, 'fixtures', f));
    const len = b.readUInt16LE(8);
    const header = b.subarray(10, 10 + len).toString('latin1');
    if (!header.includes('<i8')) throw new Error(`${f}: not int64`);
    const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(',').map((x) => x.trim()).filter(Boolean).map(Number);
    return { data: new BigInt64Array(new Uint8Array(b.subarray(10 + len)).buffer), shape };
  };
  const x = read('lm-eval-x.npy');
  const y = read('lm-eval-y.npy');
  const session = await ort.InferenceSession.create(encodeOnnx(m));
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('int64', x.data, x.shape) });
  const logits = out[session.outputNames[0]].data as Float32Array;
  const vocab = logits.length / y.data.length;
  let nll = 0;
  for (let i = 0; i < y.data.length; i++) {
    const row = logits.subarray(i * vocab, (i + 1) * vocab);
    let max = -Infinity;
    for (const v of row) if (v > max) max = v;
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    nll += max + Math.log(sum) - row[Number(y.data[i])];
  }
  return Math.exp(nll / y.data.length);
}
