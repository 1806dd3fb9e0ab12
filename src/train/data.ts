import { InputError } from '../errors';
import type { Dataset, Labels } from '../data';
import { checkLabelCount } from '../data';
import type { T, TF } from '../runtime/executor';
import { mulberry32 } from '../util/prng';

/**
 * The training set in memory, once: each input's samples in one float32 (or int32)
 * array filled batch by batch from the npy/npz reader (the reader's batches are views
 * over its read buffer, copied here and dropped), and the class ids. Batches in a
 * shuffled order are gathered from it per step, so the set is never held twice.
 */
export interface TrainingBatch {
  feeds: Record<string, T>;
  ids: Int32Array | null;
  count: number;
}

interface Column {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  per: number;
  data: Float32Array | Int32Array;
}

export class TrainingSet {
  private constructor(readonly count: number, private readonly columns: Column[], readonly ids: Int32Array | null, readonly path: string) {}

  static load(data: Dataset, labels?: Labels, limit?: number): TrainingSet {
    if (labels) checkLabelCount(labels, data);
    const count = Math.min(data.count, limit ?? Infinity);
    if (count < 1) throw new InputError('no training samples', data.path);
    const columns: Column[] = data.describe().map((d) => {
      const isFloat = d.dtype === 'float32' || d.dtype === 'float16' || d.dtype === 'float64';
      if (d.dtype === 'float16') throw new InputError(`input '${d.name}': float16 training data is not supported (store float32)`, d.file);
      const per = d.shape.reduce((a, b) => a * b, 1);
      return { name: d.name, dtype: isFloat ? 'float32' : 'int32', shape: d.shape, per, data: isFloat ? new Float32Array(count * per) : new Int32Array(count * per) };
    });
    const chunk = 256;
    for (const b of data.batches(chunk, count)) {
      for (const c of columns) {
        const src = b.inputs.get(c.name);
        if (!src) throw new InputError(`no data for input '${c.name}'`, data.path);
        const at = b.start * c.per;
        const n = b.count * c.per;
        if (src.data instanceof BigInt64Array || src.data instanceof BigUint64Array) {
          for (let i = 0; i < n; i++) c.data[at + i] = Number(src.data[i]);
        } else {
          c.data.set(src.data.subarray(0, n) as ArrayLike<number>, at);
        }
      }
    }
    let ids: Int32Array | null = null;
    if (labels) {
      if (labels.shape.length !== 0) throw new InputError('training labels must be one class id per sample', labels.path);
      ids = new Int32Array(count);
      for (const lb of labels.batches(chunk, count)) ids.set(lb.ids, lb.start);
    }
    return new TrainingSet(count, columns, ids, data.path);
  }

  /** The samples at `indices` as tfjs tensors (the caller disposes them) and their ids. */
  batch(tf: TF, indices: ArrayLike<number>): TrainingBatch {
    const n = indices.length;
    const feeds: Record<string, T> = {};
    for (const c of this.columns) {
      const out = c.dtype === 'float32' ? new Float32Array(n * c.per) : new Int32Array(n * c.per);
      for (let i = 0; i < n; i++) {
        const s = indices[i] * c.per;
        out.set(c.data.subarray(s, s + c.per), i * c.per);
      }
      feeds[c.name] = tf.tensor(out, [n, ...c.shape], c.dtype);
    }
    let ids: Int32Array | null = null;
    if (this.ids) {
      ids = new Int32Array(n);
      for (let i = 0; i < n; i++) ids[i] = this.ids[indices[i]];
    }
    return { feeds, ids, count: n };
  }
}

/**
 * The sample order of one epoch: a Fisher-Yates shuffle driven by mulberry32 seeded
 * from (seed, epoch), so each epoch has its own order and a run repeats exactly.
 */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const rand = mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Consecutive batches of `order` (the last may be short). */
export function* batchesOf(order: Uint32Array, batchSize: number): Generator<Uint32Array> {
  for (let s = 0; s < order.length; s += batchSize) yield order.subarray(s, Math.min(order.length, s + batchSize));
}
