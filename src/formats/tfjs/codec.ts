/**
 * Element codecs of tfjs weight files, mirroring tfjs-core 4.22
 * src/io/io_utils.ts (decodeWeight, getFloat16Decoder) so that mc decodes a
 * stored weight to exactly the float32 bits tfjs itself would produce.
 */
import type { TfjsQuantizationJson } from './types';

/** Bytes per stored element of each quantization dtype (tfjs-core DTYPE_VALUE_SIZE_MAP). */
export const QUANT_BYTES: Readonly<Record<TfjsQuantizationJson['dtype'], number>> = { uint8: 1, uint16: 2, float16: 2 };

/** Bytes of the uint32 length prefix before each string (tfjs NUM_BYTES_STRING_LENGTH). */
export const STRING_LENGTH_BYTES = 4;

/*
 * float16 → float32 via the three lookup tables of Jeroen van der Zijp,
 * "Fast Half Float Conversions" (2008), exactly as tfjs-core builds them.
 */
let tables: { mantissa: Uint32Array; exponent: Uint32Array; offset: Uint32Array } | undefined;

function float16Tables(): NonNullable<typeof tables> {
  if (tables) return tables;
  const mantissa = new Uint32Array(2048);
  for (let i = 1; i < 1024; i++) {
    let m = i << 13;
    let e = 0;
    while ((m & 0x00800000) === 0) {
      e -= 0x00800000;
      m <<= 1;
    }
    m &= ~0x00800000;
    e += 0x38800000;
    mantissa[i] = m | e;
  }
  for (let i = 1024; i < 2048; i++) mantissa[i] = 0x38000000 + ((i - 1024) << 13);
  const exponent = new Uint32Array(64);
  exponent[31] = 0x47800000;
  exponent[32] = 0x80000000;
  exponent[63] = 0xc7800000;
  for (let i = 1; i < 31; i++) exponent[i] = i << 23;
  for (let i = 33; i < 63; i++) exponent[i] = 0x80000000 + ((i - 32) << 23);
  const offset = new Uint32Array(64).fill(1024);
  offset[0] = offset[32] = 0;
  tables = { mantissa, exponent, offset };
  return tables;
}

/** Decodes little-endian float16 bytes to float32, bit for bit as tfjs-core does. */
export function decodeFloat16(stored: Uint8Array, count: number): Float32Array {
  const { mantissa, exponent, offset } = float16Tables();
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const h = stored[2 * i] | (stored[2 * i + 1] << 8);
    out[i] = mantissa[offset[h >> 10] + (h & 0x3ff)] + exponent[h >> 10];
  }
  return new Float32Array(out.buffer);
}

/**
 * Dequantizes a uint8/uint16/float16 stored weight to its logical dtype.
 * tfjs-core: float32 ← q*scale + min (evaluated in double, rounded once to
 * float32 by the Float32Array store); int32 ← Math.round(q*scale + min).
 */
export function dequantize(
  q: TfjsQuantizationJson,
  logical: 'float32' | 'int32',
  stored: Uint8Array,
  count: number,
): Float32Array | Int32Array {
  if (q.dtype === 'float16') return decodeFloat16(stored, count);
  const scale = q.scale ?? 0;
  const min = q.min ?? 0;
  const out = logical === 'int32' ? new Int32Array(count) : new Float32Array(count);
  const wide = q.dtype === 'uint16';
  for (let i = 0; i < count; i++) {
    const v = wide ? stored[2 * i] | (stored[2 * i + 1] << 8) : stored[i];
    const x = v * scale + min;
    out[i] = logical === 'int32' ? Math.round(x) : x;
  }
  return out;
}

/** Splits tfjs string weight bytes (uint32 LE length + bytes, per element) into zero-copy views. */
export function decodeStrings(bytes: Uint8Array, count: number): { values: Uint8Array[]; byteLength: number } | undefined {
  const values: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + STRING_LENGTH_BYTES > bytes.byteLength) return undefined;
    const len = dv.getUint32(off, true);
    off += STRING_LENGTH_BYTES;
    if (off + len > bytes.byteLength) return undefined;
    values.push(bytes.subarray(off, off + len));
    off += len;
  }
  return { values, byteLength: off };
}

/** The tfjs byte encoding of a string tensor, as chunks (length prefix, bytes, ...) so nothing is copied. */
export function encodeStrings(values: readonly Uint8Array[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (const v of values) {
    const len = new Uint8Array(STRING_LENGTH_BYTES);
    new DataView(len.buffer).setUint32(0, v.byteLength, true);
    chunks.push(len, v);
  }
  return chunks;
}
