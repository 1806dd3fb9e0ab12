/**
 * Element types known to the IR. Names are format-neutral; each format maps
 * its own codes onto these (ONNX TensorProto.DataType, tfjs dtype strings).
 */
export type DType =
  | 'float32' | 'float16' | 'float64' | 'bfloat16'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool' | 'string'
  | 'int4' | 'uint4' | 'float4e2m1'
  | 'float8e4m3fn' | 'float8e4m3fnuz' | 'float8e5m2' | 'float8e5m2fnuz'
  | 'complex64' | 'complex128'
  | 'undefined';

/** Bits per element; 0 for variable-length (string) or unknown. */
export const DTYPE_BITS: Readonly<Record<DType, number>> = {
  float32: 32, float16: 16, float64: 64, bfloat16: 16,
  int8: 8, int16: 16, int32: 32, int64: 64,
  uint8: 8, uint16: 16, uint32: 32, uint64: 64,
  bool: 8, string: 0,
  int4: 4, uint4: 4, float4e2m1: 4,
  float8e4m3fn: 8, float8e4m3fnuz: 8, float8e5m2: 8, float8e5m2fnuz: 8,
  complex64: 64, complex128: 128,
  undefined: 0,
};

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'float64' || d === 'bfloat16' || d.startsWith('float8') || d === 'float4e2m1';
}

/** Bytes needed to store `count` packed elements (sub-byte types pack two per byte, low nibble first). */
export function packedByteLength(dtype: DType, count: number): number {
  const bits = DTYPE_BITS[dtype];
  return Math.ceil((bits * count) / 8);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
