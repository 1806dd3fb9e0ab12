import { bfloat16ToFloat, halfToFloat } from '../ir';
import type { HostTensor } from '../runtime';

/**
 * The elements of a runtime tensor as numbers. float32/float64 come back as
 * the array itself (no copy); float16 and integer types are decoded once.
 */
export function numbersOf(t: HostTensor): Float32Array | Float64Array {
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  const out = new Float32Array(d.length);
  if (t.dtype === 'float16') for (let i = 0; i < d.length; i++) out[i] = halfToFloat(d[i] as number);
  else if (t.dtype === 'bfloat16') for (let i = 0; i < d.length; i++) out[i] = bfloat16ToFloat(d[i] as number);
  else if (d instanceof BigInt64Array || d instanceof BigUint64Array) for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  else for (let i = 0; i < d.length; i++) out[i] = d[i] as number;
  return out;
}

/** Integer labels as plain numbers (int64 labels fit: class and token ids are far below 2^53). */
export function integersOf(t: HostTensor): Int32Array | Float64Array {
  const d = t.data;
  if (d instanceof Int32Array) return d;
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}

export function isIntegerDType(dtype: string): boolean {
  return /^u?int(8|16|32|64)$/.test(dtype);
}

/** Index of the largest element of row `r` of width `w` (first one on ties, as numpy.argmax). */
export function argmaxRow(x: ArrayLike<number>, r: number, w: number): number {
  const base = r * w;
  let best = 0;
  let bestV = x[base];
  for (let j = 1; j < w; j++) {
    const v = x[base + j];
    if (v > bestV) {
      best = j;
      bestV = v;
    }
  }
  return best;
}
