/** Test helpers: hand-built graph models in genuine tfjs format, and stock-tfjs execution. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { float32ToFloat16Bytes } from '../../src/ir';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mc-tfjs-${tag}-`));
}

type Attr = Record<string, unknown>;

export const T = (t: string): Attr => ({ type: t });
export const f32: Attr = { type: 'DT_FLOAT' };

export function node(name: string, op: string, input: string[] = [], attr: Record<string, Attr> = {}): Record<string, unknown> {
  return { name, op, input, attr };
}

export function placeholder(name: string, dims: number[], dtype = 'DT_FLOAT'): Record<string, unknown> {
  return { name, op: 'Placeholder', attr: { dtype: { type: dtype }, shape: { shape: { dim: dims.map((d) => ({ size: String(d) })) } } } };
}

export function constNode(name: string, t: tf.Tensor): Record<string, unknown> {
  const dtype = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL', string: 'DT_STRING' }[t.dtype as string]!;
  const tensorShape = t.shape.length ? { dim: t.shape.map((d) => ({ size: String(d) })) } : {};
  return { name, op: 'Const', attr: { value: { tensor: { dtype, tensorShape } }, dtype: { type: dtype } } };
}

/**
 * Writes a graph model: the given nodes and model.json extras, with weights
 * encoded by tfjs's own tf.io.encodeWeights into `shards` files of `shardBytes`.
 */
export async function writeGraphModel(
  dir: string,
  nodes: Record<string, unknown>[],
  weights: Record<string, tf.Tensor>,
  extras: Record<string, unknown> = {},
  topologyExtras: Record<string, unknown> = {},
  shardBytes = 1 << 30,
): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(weights);
  const bytes = new Uint8Array(data as ArrayBuffer);
  const paths: string[] = [];
  const count = Math.max(1, Math.ceil(bytes.byteLength / shardBytes));
  for (let i = 0; i < count; i++) {
    const name = `w-shard${i + 1}.bin`;
    fs.writeFileSync(path.join(dir, name), bytes.subarray(i * shardBytes, (i + 1) * shardBytes));
    paths.push(name);
  }
  const json = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { node: nodes, versions: { producer: 1482 }, ...topologyExtras },
    weightsManifest: [{ paths, weights: specs }],
    ...extras,
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
}

/** Loads a graph model with stock tfjs and runs it; returns each output's raw bytes. */
export async function runGraphModel(dir: string, inputs: Record<string, tf.Tensor>, outputs?: string[]): Promise<Uint8Array[]> {
  const model = await tf.loadGraphModel(tfjsFileHandler(dir));
  // execute() covers graphs without control flow; executeAsync() the rest (it warns when not needed).
  let res: tf.Tensor | tf.Tensor[];
  try {
    res = model.execute(inputs, outputs);
  } catch {
    res = await model.executeAsync(inputs, outputs);
  }
  const list = Array.isArray(res) ? res : [res];
  const out: Uint8Array[] = [];
  for (const t of list) {
    const d = await t.data();
    out.push(new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
    t.dispose();
  }
  model.dispose();
  return out;
}

/** Loads a layers model with stock tfjs and predicts; returns the output bytes. */
export async function runLayersModel(dir: string, input: tf.Tensor): Promise<Float32Array> {
  const model = await tf.loadLayersModel(tfjsFileHandler(dir));
  const y = model.predict(input) as tf.Tensor;
  const d = (await y.data()) as Float32Array;
  y.dispose();
  model.dispose();
  return d;
}

/** Deterministic pseudo-random floats (LCG), so tests never depend on Math.random. */
export function seeded(n: number, seed = 1, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

export function readJson(p: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown>;
}

/**
 * Affine quantization as tfjs-converter's quantization.py does it: the range
 * is nudged so that 0 is exactly representable, then q = round((x - min) / scale).
 */
export function quantizeAffine(x: Float32Array, dtype: 'uint8' | 'uint16'): { bytes: Uint8Array; min: number; scale: number } {
  const qmax = dtype === 'uint8' ? 255 : 65535;
  let lo = Math.min(0, ...x);
  let hi = Math.max(0, ...x);
  const scale = hi === lo ? 1 : (hi - lo) / qmax;
  const zero = Math.round(-lo / scale);
  lo = -zero * scale;
  hi = qmax * scale + lo;
  const q = dtype === 'uint8' ? new Uint8Array(x.length) : new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) q[i] = Math.round((Math.min(hi, Math.max(lo, x[i])) - lo) / scale);
  return { bytes: new Uint8Array(q.buffer), min: lo, scale };
}

export function toHalfBytes(x: Float32Array): Uint8Array {
  return float32ToFloat16Bytes(x);
}
