import { UsageError } from '../errors';
import { halfToFloat } from '../ir/float16';
import type { NumericArray } from '../ir/tensor';
import type { DataDType } from './types';

/** Number of samples a pass reads: all of them, or `limit` if smaller. Checks both arguments. */
export function samplesToRead(count: number, batchSize: number, limit?: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  if (limit === undefined) return count;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`sample limit must be a positive integer, got ${limit}`);
  return Math.min(count, limit);
}

/** Views `bytes` (a fresh, aligned buffer) as the natural typed array of `dtype`. */
export function typedView(dtype: DataDType, bytes: Uint8Array): NumericArray {
  const { buffer, byteOffset: o, byteLength: n } = bytes;
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, o, n / 4);
    case 'float64': return new Float64Array(buffer, o, n / 8);
    case 'float16': case 'uint16': return new Uint16Array(buffer, o, n / 2);
    case 'int8': return new Int8Array(buffer, o, n);
    case 'int16': return new Int16Array(buffer, o, n / 2);
    case 'int32': return new Int32Array(buffer, o, n / 4);
    case 'int64': return new BigInt64Array(buffer, o, n / 8);
    case 'uint8': case 'bool': return new Uint8Array(buffer, o, n);
    case 'uint32': return new Uint32Array(buffer, o, n / 4);
    case 'uint64': return new BigUint64Array(buffer, o, n / 8);
  }
}

/** float16 bits → float32 values (exact: every half is representable in single precision). */
export function widenHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]);
  return out;
}
