import { UnsupportedError } from '../../errors';
import { irToTf } from './convert';
import { axisOf, intsOf, need, OpContext, OpTable, T, TF } from './types';

/** Shape and data-movement ops. Shape-like inputs (int64 in ONNX) are read synchronously. */

export function Flatten(tf: TF, X: T, axis = 1): T {
  const a = axisOf(axis, X.rank);
  const outer = X.shape.slice(0, a).reduce((p, d) => p * d, 1);
  return tf.reshape(X, [outer, outer === 0 ? 0 : X.size / outer]);
}

/** Reshape: 0 copies the input dim (unless allowzero), -1 is inferred. */
export function Reshape(tf: TF, X: T, shape: number[], allowzero = 0): T {
  const target = shape.map((d, i) => (d === 0 && !allowzero ? X.shape[i] : d));
  return tf.reshape(X, target);
}

export function Transpose(tf: TF, X: T, perm?: number[]): T {
  return tf.transpose(X, perm ?? [...Array(X.rank).keys()].reverse());
}

/**
 * Slice (opset >= 10 inputs; attributes before). Starts and ends clamp per the spec:
 * [0, dim] for positive steps, [-1, dim-1] for negative ones. Unit steps use tf.slice;
 * other steps gather the selected indices (differentiable, and handles reversal).
 */
export function Slice(tf: TF, X: T, starts: number[], ends: number[], axes?: number[], steps?: number[]): T {
  let y = X;
  const ax = axes ?? starts.map((_, i) => i);
  ax.forEach((axRaw, i) => {
    const a = axisOf(axRaw, X.rank);
    const dim = X.shape[a];
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new Error('Slice: step 0');
    let s = starts[i] < 0 ? starts[i] + dim : starts[i];
    let e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    if (step === 1) {
      const begin = y.shape.map(() => 0);
      const size = [...y.shape];
      begin[a] = s;
      size[a] = Math.max(0, e - s);
      y = tf.slice(y, begin, size);
      return;
    }
    const idx: number[] = [];
    for (let k = s; step > 0 ? k < e : k > e; k += step) idx.push(k);
    y = tf.gather(y, tf.tensor1d(idx, 'int32'), a);
  });
  return y;
}

/** Gather along `axis`; negative indices count from the end. */
export function Gather(tf: TF, data: T, indices: T, axis = 0): T {
  const a = axisOf(axis, data.rank);
  const dim = data.shape[a];
  const idx = tf.cast(indices, 'int32');
  const fixed = tf.where(tf.less(idx, 0), tf.add(idx, tf.scalar(dim, 'int32')), idx);
  if (indices.rank === 0) return tf.squeeze(tf.gather(data, tf.reshape(fixed, [1]), a), [a]);
  return tf.gather(data, fixed, a);
}

export function Unsqueeze(tf: TF, X: T, axes: number[]): T {
  const r = X.rank + axes.length;
  const sorted = axes.map((a) => axisOf(a, r)).sort((p, q) => p - q);
  const shape = [...X.shape];
  for (const a of sorted) shape.splice(a, 0, 1);
  return tf.reshape(X, shape);
}

export function Squeeze(tf: TF, X: T, axes?: number[]): T {
  return tf.squeeze(X, axes?.map((a) => axisOf(a, X.rank)));
}

/**
 * Pad in constant, reflect or edge mode. pads = [x1_begin, x2_begin, ..., x1_end, ...]
 * over `axes` (all axes by default). Reflect and edge gather a precomputed index map
 * per axis, which keeps them differentiable.
 */
export function Pad(tf: TF, X: T, pads: number[], mode: string, value: number, axes?: number[]): T {
  const ax = (axes ?? [...Array(X.rank).keys()]).map((a) => axisOf(a, X.rank));
  const n = ax.length;
  if (pads.some((p) => p < 0)) throw new UnsupportedError('Pad with negative pads is not supported by the executor');
  if (mode === 'constant') {
    const full: [number, number][] = X.shape.map(() => [0, 0]);
    ax.forEach((a, i) => (full[a] = [pads[i], pads[i + n]]));
    return tf.pad(X, full, value);
  }
  if (mode !== 'reflect' && mode !== 'edge') throw new UnsupportedError(`Pad mode '${mode}' is not supported by the executor`);
  let y = X;
  ax.forEach((a, i) => {
    const dim = X.shape[a];
    const idx: number[] = [];
    for (let k = -pads[i]; k < dim + pads[i + n]; k++) {
      if (mode === 'edge') idx.push(Math.min(Math.max(k, 0), dim - 1));
      else {
        const period = 2 * (dim - 1);
        let m = period === 0 ? 0 : ((k % period) + period) % period;
        if (m >= dim) m = period - m;
        idx.push(m);
      }
    }
    y = tf.gather(y, tf.tensor1d(idx, 'int32'), a);
  });
  return y;
}

/** Constant node value from any of its attribute forms. */
function Constant(c: OpContext): T {
  const n = c.node;
  for (const [name, a] of n.attributes) {
    if (a.type === 'tensor') return irToTf(c.tf, a.value);
    if (name === 'value_float' && a.type === 'float') return c.tf.scalar(a.value, 'float32');
    if (name === 'value_floats' && a.type === 'floats') return c.tf.tensor1d(a.value, 'float32');
    if (name === 'value_int' && a.type === 'int') return c.tf.scalar(Number(a.value), 'int32');
    if (name === 'value_ints' && a.type === 'ints') return c.tf.tensor1d(a.value.map(Number), 'int32');
  }
  throw new UnsupportedError(`${n.describe()}: Constant form is not supported by the executor`);
}

/** Attribute (old opsets) or input (newer) form of an int list. */
function attrOrInput(c: OpContext, name: string, input: T | null | undefined, inputSince: number): number[] | undefined {
  if (c.opset >= inputSince) return intsOf(input);
  return c.node.attributes.has(name) ? c.node.attrInts(name) : undefined;
}


export const shapeOps: OpTable = {
  Flatten: (c, i) => Flatten(c.tf, need(c, i, 0), c.node.attrInt('axis', 1)),
  Reshape: (c, i) => Reshape(c.tf, need(c, i, 0), intsOf(need(c, i, 1))!, c.node.attrInt('allowzero', 0)),
  Transpose: (c, i) => Transpose(c.tf, need(c, i, 0), c.node.attributes.has('perm') ? c.node.attrInts('perm') : undefined),
  Concat: (c, i) => c.tf.concat(i.filter((t): t is T => t !== null), axisOf(c.node.attrInt('axis'), need(c, i, 0).rank)),
  Split: (c, i) => {
    const X = need(c, i, 0);
    const a = axisOf(c.node.attrInt('axis', 0), X.rank);
    const outs = c.node.outputs.length;
    let sizes = c.opset >= 13 ? intsOf(i[1]) : c.node.attributes.has('split') ? c.node.attrInts('split') : undefined;
    if (!sizes) {
      const k = c.node.attributes.has('num_outputs') ? c.node.attrInt('num_outputs') : outs;
      const each = Math.ceil(X.shape[a] / k);
      sizes = Array.from({ length: k }, (_, j) => Math.max(0, Math.min(each, X.shape[a] - j * each)));
    }
    return c.tf.split(X, sizes, a);
  },
  Slice: (c, i) => {
    const X = need(c, i, 0);
    if (c.opset < 10) {
      return Slice(c.tf, X, c.node.attrInts('starts'), c.node.attrInts('ends'), c.node.attributes.has('axes') ? c.node.attrInts('axes') : undefined);
    }
    return Slice(c.tf, X, intsOf(need(c, i, 1))!, intsOf(need(c, i, 2))!, intsOf(i[3]), intsOf(i[4]));
  },
  Gather: (c, i) => Gather(c.tf, need(c, i, 0), need(c, i, 1), c.node.attrInt('axis', 0)),
  Squeeze: (c, i) => Squeeze(c.tf, need(c, i, 0), attrOrInput(c, 'axes', i[1], 13)),
  Unsqueeze: (c, i) => Unsqueeze(c.tf, need(c, i, 0), attrOrInput(c, 'axes', i[1], 13)!),
  Shape: (c, i) => {
    const X = need(c, i, 0);
    const r = X.rank;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const s = clamp(c.node.attrInt('start', 0));
    const e = c.node.attributes.has('end') ? clamp(c.node.attrInt('end')) : r;
    return c.tf.tensor1d(X.shape.slice(s, e), 'int32');
  },
  Size: (c, i) => c.tf.scalar(need(c, i, 0).size, 'int32'),
  Expand: (c, i) => {
    const X = need(c, i, 0);
    const shape = intsOf(need(c, i, 1))!;
    const r = Math.max(X.rank, shape.length);
    const xs = [...Array(r - X.rank).fill(1), ...X.shape];
    const ss = [...Array(r - shape.length).fill(1), ...shape];
    return c.tf.broadcastTo(c.tf.reshape(X, xs), xs.map((d, k) => (d === 1 ? ss[k] : d)));
  },
  Pad: (c, i) => {
    const X = need(c, i, 0);
    const mode = c.node.attrString('mode', 'constant');
    if (c.opset < 11) return Pad(c.tf, X, c.node.attrInts('pads'), mode, c.node.attrFloat('value', 0));
    const v = i[2] ? Number((i[2].dataSync() as ArrayLike<number>)[0]) : 0;
    return Pad(c.tf, X, intsOf(need(c, i, 1))!, mode, v, intsOf(i[3]));
  },
  Constant: (c) => Constant(c),
};
