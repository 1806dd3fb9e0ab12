/**
 * tfjs stored weight quantization ("weight-only" uint8/uint16 affine, or
 * float16) as it rides on an IR Tensor.
 *
 * Design: the Tensor always shows its *logical* dtype (float32, or int32 for
 * quantized int32 weights) and its data is a lazy decode of the stored bytes,
 * computed exactly as tfjs-core decodes them. `Tensor.storage` holds a
 * TfjsStorage with the stored quantization and the stored bytes, so the
 * encoder writes the stored bytes back verbatim. Any `setData` clears
 * `storage`; the weight is then written as plain float32/int32.
 */
import { DType, Tensor, TensorDataError } from '../../ir';
import { UnsupportedError } from '../../errors';
import { QUANT_BYTES, dequantize } from './codec';
import type { TfjsQuantizationJson } from './types';

/** What a pass can ask for: affine uint8/uint16 (value = q*scale + min) or float16. */
export type TfjsQuantization =
  | { dtype: 'uint8' | 'uint16'; min: number; scale: number }
  | { dtype: 'float16' };

/** Tensor.storage set by the tfjs format. */
export interface TfjsStorage {
  kind: 'tfjs-quantized';
  /** The manifest `quantization` object, verbatim (unknown keys included). */
  quantization: TfjsQuantizationJson;
  /** Stored little-endian uint8/uint16/float16 elements. */
  stored: Uint8Array;
}

export function isTfjsStorage(s: unknown): s is TfjsStorage {
  return typeof s === 'object' && s !== null && (s as { kind?: unknown }).kind === 'tfjs-quantized';
}

/** The stored quantization of a tensor, or undefined when it is written as plain data. */
export function getTfjsQuantization(tensor: Tensor): { quantization: TfjsQuantizationJson; storedBytes: Uint8Array } | undefined {
  const s = tensor.storage;
  return isTfjsStorage(s) ? { quantization: s.quantization, storedBytes: s.stored } : undefined;
}

/**
 * Makes `tensor` a stored-quantized tfjs weight: its data becomes the lazy
 * tfjs decode of `storedBytes` (so passes and evaluators see exactly what tfjs
 * will compute) and saveTfjs writes `storedBytes` with this quantization.
 * The tensor must be float32 (or int32 with uint8/uint16); its shape is kept.
 */
export function setTfjsQuantization(tensor: Tensor, q: TfjsQuantization, storedBytes: Uint8Array): void {
  const logical = tensor.dtype;
  if (logical !== 'float32' && !(logical === 'int32' && q.dtype !== 'float16')) {
    throw new UnsupportedError(`tfjs cannot store ${logical} weight '${tensor.name}' as ${q.dtype}`);
  }
  const count = tensor.size;
  const want = count * QUANT_BYTES[q.dtype];
  if (storedBytes.byteLength !== want) {
    throw new TensorDataError(`weight '${tensor.name}': ${q.dtype} storage of ${count} elements needs ${want} bytes, got ${storedBytes.byteLength}`);
  }
  const json: TfjsQuantizationJson = q.dtype === 'float16' ? { dtype: 'float16' } : { dtype: q.dtype, min: q.min, scale: q.scale };
  attachStorage(tensor, logical, json, storedBytes);
}

/** @internal Used by the decoder too: lazy logical data over stored bytes, plus the storage slot. */
export function attachStorage(tensor: Tensor, logical: DType, q: TfjsQuantizationJson, stored: Uint8Array): void {
  const count = tensor.size;
  const kind = logical === 'int32' ? 'int32' : 'float32';
  tensor.setData(logical, tensor.shape, {
    kind: 'lazy',
    byteLength: count * 4,
    load: () => {
      const a = dequantize(q, kind, stored, count);
      return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    },
  });
  const storage: TfjsStorage = { kind: 'tfjs-quantized', quantization: q, stored };
  tensor.storage = storage;
}
