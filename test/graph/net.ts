/**
 * A tiny builder for small ONNX graphs in the IR (seeded weights), and the oracle
 * helpers the channel-pruning tests share: which filters survived, zeroing a
 * weight's slices, running a model in onnxruntime.
 */
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx';
import { type Attribute, Model, Node, Tensor, Value } from '../../src/ir';
import { floats } from '../helpers/onnx-build';
import { runOnce } from '../helpers/onnx-ort';

export class Net {
  readonly model = new Model('onnx');
  private k = 0;
  private seed = 11;

  constructor(opset = 17) {
    this.model.irVersion = 8;
    this.model.opsetImports = [{ domain: '', version: opset }];
    this.model.graph.name = 'net';
  }

  input(name: string, shape: number[]): Value {
    const v = new Value(name, { dtype: 'float32', shape });
    this.model.graph.inputs.push(v);
    return v;
  }

  /** A seeded float32 initializer in [-scale, scale), optionally offset. */
  w(name: string, shape: number[], scale = 0.5, offset = 0): Value {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = floats(n, this.seed++).map((x) => x * scale + offset);
    return this.model.graph.addInitializer(name, Tensor.fromArray('float32', shape, data, name));
  }

  f32(name: string, shape: number[], data: number[]): Value {
    return this.model.graph.addInitializer(name, Tensor.fromArray('float32', shape, Float32Array.from(data), name));
  }

  i64(name: string, data: number[]): Value {
    return this.model.graph.addInitializer(name, Tensor.fromArray('int64', [data.length], BigInt64Array.from(data.map(BigInt)), name));
  }

  op(opType: string, inputs: (Value | null)[], attrs: Attribute[] = [], name = `${opType.toLowerCase()}${this.k++}`, outputs = 1): Value {
    const outs = Array.from({ length: outputs }, (_, i) => new Value(outputs === 1 ? `${name}_out` : `${name}_out${i}`));
    this.model.graph.addNode(new Node({ opType, name, inputs, outputs: outs, attributes: attrs }));
    return outs[0];
  }

  /** All outputs of a multi-output op. */
  ops(opType: string, inputs: (Value | null)[], outputs: number, attrs: Attribute[] = [], name = `${opType.toLowerCase()}${this.k++}`): Value[] {
    const outs = Array.from({ length: outputs }, (_, i) => new Value(`${name}_out${i}`));
    this.model.graph.addNode(new Node({ opType, name, inputs, outputs: outs, attributes: attrs }));
    return outs;
  }

  output(v: Value): void {
    v.dtype = 'float32';
    this.model.graph.outputs.push(v);
  }
}

/** Indices (along `axis`) of the slices of `orig` that survive in `pruned`, matched in order by their values. */
export function keptSlices(orig: Tensor, pruned: Tensor, axis = 0): number[] {
  const slices = (t: Tensor): string[] => {
    const a = t.toFloat32();
    const s = t.shape;
    const outer = s.slice(0, axis).reduce((p, d) => p * d, 1);
    const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
    return Array.from({ length: s[axis] }, (_, c) => {
      const parts: number[] = [];
      for (let o = 0; o < outer; o++) parts.push(...a.subarray((o * s[axis] + c) * inner, (o * s[axis] + c + 1) * inner));
      return parts.join(',');
    });
  };
  const a = slices(orig);
  const b = slices(pruned);
  const kept: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length && j < b.length; i++) if (a[i] === b[j]) { kept.push(i); j++; }
  if (j !== b.length) throw new Error(`tensor '${orig.name}': pruned slices are not a subsequence of the original`);
  return kept;
}

/** The indices in [0, n) that are not in `kept`. */
export const removedOf = (kept: readonly number[], n: number): number[] => [...Array(n).keys()].filter((i) => !kept.includes(i));

/** Zeroes entries idx*block .. idx*block+block-1 (within each of `rep` repeats) along `axis` of a float32 constant. */
export function zeroSlices(v: Value, axis: number, idx: readonly number[], block = 1): void {
  const t = v.const!;
  const s = t.shape;
  const w = Float32Array.from(t.toFloat32());
  const outer = s.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
  for (let o = 0; o < outer; o++) for (let a = 0; a < s[axis]; a++) {
    if (!idx.includes(Math.floor(a / block))) continue;
    w.fill(0, (o * s[axis] + a) * inner, (o * s[axis] + a + 1) * inner);
  }
  t.setData('float32', [...s], { kind: 'bytes', bytes: new Uint8Array(w.buffer) });
}

export const initializer = (m: Model, name: string): Value => {
  const v = m.graph.initializers.find((x) => x.name === name);
  if (!v) throw new Error(`no initializer '${name}'`);
  return v;
};

/** Runs the model in onnxruntime on one input; the first output's values. */
export async function run(m: Model, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const out = await runOnce(encodeOnnx(m), { [m.graph.inputs[0].name]: new ort.Tensor('float32', x, shape) });
  return Float32Array.from(out[m.graph.outputs[0].name].data as Float32Array);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

export function maxAbs(a: Float32Array): number {
  let d = 0;
  for (const x of a) d = Math.max(d, Math.abs(x));
  return d;
}
