import { InputError } from '../../errors';
import { DType, DTYPE_BITS, packedByteLength, Tensor, TensorData, elementCount } from '../../ir';
import { dtypeFromOnnx, dtypeToOnnx } from './dtype';
import { ExternalRef, lazyExternalData, parseExternalData } from './external-data';
import { fromBigInt, has, I64, StringStringEntryProto, TensorProto, toBigInt, toNumber } from './proto-types';

/** TensorProto field that carried the data. */
export type TensorField =
  | 'raw_data' | 'float_data' | 'int32_data' | 'int64_data' | 'double_data' | 'uint64_data' | 'string_data'
  | 'external' | 'none';

/**
 * What Tensor.storage holds for a tensor decoded from ONNX: the details the IR
 * does not model, so that re-encoding writes the same message back.
 */
export interface OnnxTensorStorage {
  readonly format: 'onnx';
  field: TensorField;
  /** data_type as on the wire when the IR has no dtype for it (or it was absent). */
  dataType?: number | null;
  nameAbsent?: boolean;
  dataLocation?: number;
  /** external_data entries in file order (location, offset, length, checksum, ...). */
  externalData?: StringStringEntryProto[];
  segment?: TensorProto['segment'];
  metadataProps?: StringStringEntryProto[];
  /** Where lazy external bytes come from (absolute path), so a re-save can tell if it overwrites its own source. */
  externalRef?: ExternalRef;
}

export function onnxStorage(t: Tensor): OnnxTensorStorage | undefined {
  const s = t.storage as OnnxTensorStorage | undefined;
  return s && s.format === 'onnx' ? s : undefined;
}

export interface TensorDecodeContext {
  /** The model file, for error messages. */
  file?: string;
  /** Folder external data locations are relative to. */
  baseDir?: string;
}

/** Element byte width inside int32_data for each dtype that may use it (onnx.proto, TensorProto.int32_data). */
const INT32_FIELD_WIDTH: Partial<Record<DType, 1 | 2 | 4>> = {
  int32: 4, int16: 2, uint16: 2, float16: 2, bfloat16: 2,
  int8: 1, uint8: 1, bool: 1,
  float8e4m3fn: 1, float8e4m3fnuz: 1, float8e5m2: 1, float8e5m2fnuz: 1,
  // 4-bit types: each int32 holds one packed byte (two elements), as onnx.numpy_helper writes them.
  int4: 1, uint4: 1, float4e2m1: 1,
};
const SIGNED_INT32_FIELD = new Set<DType>(['int32', 'int16', 'int8']);

/** Which typed field ONNX allows for a dtype (besides raw_data). */
function typedFieldFor(d: DType): TensorField | undefined {
  if (d === 'float32' || d === 'complex64') return 'float_data';
  if (d === 'float64' || d === 'complex128') return 'double_data';
  if (d === 'int64') return 'int64_data';
  if (d === 'uint32' || d === 'uint64') return 'uint64_data';
  if (d === 'string') return 'string_data';
  if (INT32_FIELD_WIDTH[d]) return 'int32_data';
  return undefined;
}

export function decodeTensor(tp: TensorProto, ctx: TensorDecodeContext): Tensor {
  const code = has(tp, 'data_type') ? tp.data_type! : null;
  const dtype = dtypeFromOnnx(code ?? 0);
  const shape = (tp.dims ?? []).map(toNumber);
  const storage: OnnxTensorStorage = { format: 'onnx', field: 'none' };
  if (code === null || dtypeFromOnnx(code) === 'undefined') storage.dataType = code;
  if (!has(tp, 'name')) storage.nameAbsent = true;
  if (has(tp, 'data_location')) storage.dataLocation = tp.data_location;
  if (tp.external_data?.length) storage.externalData = tp.external_data.map((e) => ({ ...e }));
  if (has(tp, 'segment')) storage.segment = tp.segment;
  if (tp.metadata_props?.length) storage.metadataProps = tp.metadata_props;

  const need = checkShape(dtype, shape, tp, ctx);
  let data: TensorData;
  if (tp.data_location === 1) {
    if (dtype === 'string') throw new InputError(`tensor '${tp.name ?? ''}' is a string tensor with external data, which ONNX does not allow`, ctx.file);
    const ref = parseExternalData(tp.external_data ?? [], tp.name ?? '', ctx);
    const byteLength = ref.length ?? need ?? 0;
    data = lazyExternalData(ref, byteLength, tp.name ?? '');
    storage.field = 'external';
    storage.externalRef = ref;
  } else if (has(tp, 'raw_data')) {
    data = { kind: 'bytes', bytes: tp.raw_data! };
    storage.field = 'raw_data';
  } else {
    const typed = decodeTypedField(tp, dtype);
    data = typed.data;
    storage.field = typed.field;
  }
  checkData(dtype, shape, data, need, storage.field, tp, ctx);
  const t = new Tensor(dtype, shape, data, tp.name ?? '');
  if (has(tp, 'doc_string')) t.docString = tp.doc_string;
  t.storage = storage;
  return t;
}

/**
 * Dims must be whole, non-negative and multiply to a safe integer; returns the
 * packed byte length the data must have (undefined for strings and for data
 * types the IR does not know, whose bytes are kept as they are).
 */
function checkShape(dtype: DType, shape: readonly number[], tp: TensorProto, ctx: TensorDecodeContext): number | undefined {
  const bad = shape.find((d) => !Number.isSafeInteger(d) || d < 0);
  if (bad !== undefined) throw new InputError(`tensor '${tp.name ?? ''}' has dim ${bad}, which is not a size`, ctx.file);
  const count = elementCount(shape);
  if (!Number.isSafeInteger(count)) throw new InputError(`tensor '${tp.name ?? ''}' has dims [${shape.join(',')}] whose product overflows`, ctx.file);
  if (dtype === 'string' || DTYPE_BITS[dtype] === 0) return undefined;
  return packedByteLength(dtype, count);
}

/** The data agrees with dtype and shape (a mismatch would crash the first pass that reads the tensor). */
function checkData(dtype: DType, shape: readonly number[], data: TensorData, need: number | undefined, field: TensorField, tp: TensorProto, ctx: TensorDecodeContext): void {
  const name = tp.name ?? '';
  if (data.kind === 'strings') {
    if (dtype !== 'string') throw new InputError(`tensor '${name}' is ${dtype} but holds string_data`, ctx.file);
    return;
  }
  if (dtype === 'string') {
    if (field !== 'none') throw new InputError(`tensor '${name}' is a string tensor but holds ${field}`, ctx.file);
    return;
  }
  const have = data.kind === 'bytes' ? data.bytes.byteLength : data.byteLength;
  if (need !== undefined && have !== need) {
    const where = field === 'external' ? 'external data length' : field === 'none' ? 'no data' : field;
    throw new InputError(`tensor '${name}': ${dtype}[${shape.join(',')}] needs ${need} bytes, ${where} gives ${have}`, ctx.file);
  }
}

function decodeTypedField(tp: TensorProto, dtype: DType): { field: TensorField; data: TensorData } {
  if (tp.string_data?.length || dtype === 'string') {
    return { field: tp.string_data?.length ? 'string_data' : 'none', data: { kind: 'strings', values: tp.string_data ?? [] } };
  }
  const bytes = (a: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): TensorData =>
    ({ kind: 'bytes', bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });
  if (tp.float_data?.length) return { field: 'float_data', data: bytes(Float32Array.from(tp.float_data)) };
  if (tp.double_data?.length) return { field: 'double_data', data: bytes(Float64Array.from(tp.double_data)) };
  if (tp.int64_data?.length) return { field: 'int64_data', data: bytes(BigInt64Array.from(tp.int64_data, toBigInt)) };
  if (tp.uint64_data?.length) {
    const arr = dtype === 'uint32' ? Uint32Array.from(tp.uint64_data, toNumber) : BigUint64Array.from(tp.uint64_data, (v) => BigInt.asUintN(64, toBigInt(v)));
    return { field: 'uint64_data', data: bytes(arr) };
  }
  if (tp.int32_data?.length) {
    const width = INT32_FIELD_WIDTH[dtype] ?? 4;
    const src = tp.int32_data;
    const arr = width === 4 ? Int32Array.from(src) : width === 2 ? Uint16Array.from(src, (v) => v & 0xffff) : Uint8Array.from(src, (v) => v & 0xff);
    return { field: 'int32_data', data: bytes(arr) };
  }
  return { field: 'none', data: { kind: 'bytes', bytes: new Uint8Array(0) } };
}

export interface TensorEncodeContext {
  /**
   * Called for every non-string tensor; returns external_data entries when the
   * tensor's bytes go to an external file instead of the message.
   */
  externalize?: (t: Tensor) => StringStringEntryProto[] | undefined;
}

/** Builds a TensorProto. `name` overrides the tensor's own (initializers take their Value's name). */
export function encodeTensor(t: Tensor, name: string | undefined, ctx: TensorEncodeContext): TensorProto {
  const st = onnxStorage(t);
  const tp: TensorProto = {};
  tp.dims = t.shape;
  const code = st && st.dataType !== undefined ? st.dataType : dtypeToOnnx(t.dtype);
  if (code !== null) tp.data_type = code;
  if (st?.segment) tp.segment = st.segment;
  const nm = name ?? t.name;
  if (nm !== '' || !st?.nameAbsent) tp.name = nm;
  if (t.docString !== undefined) tp.doc_string = t.docString;

  const external = t.dtype === 'string' ? undefined : ctx.externalize?.(t);
  if (external) {
    tp.external_data = external;
    tp.data_location = 1;
  } else {
    writeInlineData(tp, t, st);
    if (st?.externalData && st.field !== 'external') tp.external_data = st.externalData;
    if (st?.dataLocation !== undefined && st.field !== 'external') tp.data_location = st.dataLocation;
  }
  if (st?.metadataProps) tp.metadata_props = st.metadataProps;
  return tp;
}

function writeInlineData(tp: TensorProto, t: Tensor, st: OnnxTensorStorage | undefined): void {
  if (t.dtype === 'string') {
    if (st?.field !== 'none' || t.strings().length) tp.string_data = [...t.strings()];
    return;
  }
  const b = t.bytes();
  const field = st?.field;
  if (field === 'none' && b.byteLength === 0) return;
  if (field && field !== 'raw_data' && field !== 'external' && field === typedFieldFor(t.dtype) && b.byteLength % fieldElementBytes(t.dtype, field) === 0) {
    writeTypedField(tp, t.dtype, field, b);
    return;
  }
  tp.raw_data = b;
}

/** Bytes per element inside a typed field; the stored bytes must be a whole number of them. */
function fieldElementBytes(dtype: DType, field: TensorField): number {
  switch (field) {
    case 'float_data': return 4;
    case 'double_data': case 'int64_data': return 8;
    case 'uint64_data': return dtype === 'uint32' ? 4 : 8;
    default: return INT32_FIELD_WIDTH[dtype] ?? 4;
  }
}

function writeTypedField(tp: TensorProto, dtype: DType, field: TensorField, b: Uint8Array): void {
  const copy = b.slice(); // aligned copy; typed fields are small in practice (Constant attributes)
  const buf = copy.buffer;
  switch (field) {
    case 'float_data': tp.float_data = Array.from(new Float32Array(buf)); return;
    case 'double_data': tp.double_data = Array.from(new Float64Array(buf)); return;
    case 'int64_data': tp.int64_data = Array.from(new BigInt64Array(buf), (v): I64 => fromBigInt(v)); return;
    case 'uint64_data':
      tp.uint64_data = dtype === 'uint32'
        ? Array.from(new Uint32Array(buf), (v): I64 => fromBigInt(BigInt(v), true))
        : Array.from(new BigUint64Array(buf), (v): I64 => fromBigInt(v, true));
      return;
    case 'int32_data': {
      const width = INT32_FIELD_WIDTH[dtype] ?? 4;
      const signed = SIGNED_INT32_FIELD.has(dtype);
      const arr = width === 4 ? new Int32Array(buf)
        : width === 2 ? (signed ? new Int16Array(buf) : new Uint16Array(buf))
        : (signed ? new Int8Array(buf) : new Uint8Array(buf));
      tp.int32_data = Array.from(arr);
      return;
    }
    default: tp.raw_data = b;
  }
}
