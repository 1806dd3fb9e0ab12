import { Tensor, isFloatDType } from '../../ir';
import { UnsupportedError } from '../../errors';
import type { T, TF } from './types';

/**
 * IR tensor → tfjs tensor. tfjs computes in float32/int32/bool only, so float16,
 * float64 and bfloat16 become float32 and 64-bit integers become int32 (shapes,
 * axes and indices fit; a value outside int32 is clamped, which only matters for
 * Slice's INT64_MAX "to the end" sentinel, where clamping is exactly right).
 */
export function irToTf(tf: TF, t: Tensor): T {
  const shape = [...t.shape];
  if (isFloatDType(t.dtype)) return tf.tensor(t.toFloat32(), shape, 'float32');
  if (t.dtype === 'bool') return tf.tensor(t.typed() as Uint8Array, shape, 'bool');
  if (t.dtype === 'string') throw new UnsupportedError(`tensor '${t.name}': string tensors are not supported by the executor`);
  const src = t.typed();
  const out = new Int32Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      out[i] = v > 2147483647n ? 2147483647 : v < -2147483648n ? -2147483648 : Number(v);
    }
  } else {
    for (let i = 0; i < src.length; i++) out[i] = Math.max(-2147483648, Math.min(2147483647, src[i] as number));
  }
  return tf.tensor(out, shape, 'int32');
}
