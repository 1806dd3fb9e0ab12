import type { DType } from '../../ir';
import { UnsupportedError } from '../../errors';

/** TensorProto.DataType codes (onnx.proto, ONNX 1.18). */
const CODES: readonly (readonly [number, DType])[] = [
  [0, 'undefined'], [1, 'float32'], [2, 'uint8'], [3, 'int8'], [4, 'uint16'], [5, 'int16'],
  [6, 'int32'], [7, 'int64'], [8, 'string'], [9, 'bool'], [10, 'float16'], [11, 'float64'],
  [12, 'uint32'], [13, 'uint64'], [14, 'complex64'], [15, 'complex128'], [16, 'bfloat16'],
  [17, 'float8e4m3fn'], [18, 'float8e4m3fnuz'], [19, 'float8e5m2'], [20, 'float8e5m2fnuz'],
  [21, 'uint4'], [22, 'int4'], [23, 'float4e2m1'],
];

const TO_DTYPE = new Map<number, DType>(CODES);
const TO_CODE = new Map<DType, number>(CODES.map(([c, d]) => [d, c]));

/** Maps an ONNX data type code; codes the IR does not know (e.g. FLOAT8E8M0 = 24) become 'undefined'. */
export function dtypeFromOnnx(code: number): DType {
  return TO_DTYPE.get(code) ?? 'undefined';
}

export function isKnownOnnxType(code: number): boolean {
  return TO_DTYPE.has(code);
}

export function dtypeToOnnx(d: DType): number {
  const c = TO_CODE.get(d);
  if (c === undefined) throw new UnsupportedError(`dtype ${d} has no ONNX data type`);
  return c;
}
