import { Dim, DType, Value } from '../../ir';
import { dtypeFromOnnx, dtypeToOnnx, isKnownOnnxType } from './dtype';
import { has, StringStringEntryProto, TensorShapeProto, toNumber, TypeProto, ValueInfoProto } from './proto-types';

/** Value.extra for values decoded from ONNX. */
export interface OnnxValueExtra {
  readonly format: 'onnx';
  metadataProps?: StringStringEntryProto[];
}

/**
 * Copies a ValueInfoProto onto a Value. A plain tensor type becomes dtype +
 * shape; anything richer (sequence/map/optional/sparse types, denotations, an
 * absent elem_type) is also kept verbatim in typeExtra so it re-encodes exactly.
 */
export function applyValueInfo(v: Value, vi: ValueInfoProto): void {
  if (has(vi, 'doc_string')) v.docString = vi.doc_string;
  if (vi.metadata_props?.length) v.extra = { format: 'onnx', metadataProps: vi.metadata_props } satisfies OnnxValueExtra;
  if (!has(vi, 'type')) return;
  const tp = vi.type!;
  const plain = plainTensorType(tp);
  if (plain) {
    v.dtype = plain.dtype;
    v.shape = plain.shape;
    if (!plain.exact) v.typeExtra = tp;
  } else {
    v.typeExtra = tp;
  }
}

interface PlainType { dtype?: DType; shape?: Dim[]; exact: boolean }

/** dtype/shape of a tensor TypeProto; `exact` says whether they alone re-encode it. */
function plainTensorType(tp: TypeProto): PlainType | undefined {
  if (!has(tp, 'tensor_type')) return undefined;
  const tt = tp.tensor_type!;
  let exact = !has(tp, 'denotation') && Object.keys(tp).filter((k) => has(tp, k as keyof TypeProto)).length === 1;
  const code = has(tt, 'elem_type') ? tt.elem_type! : undefined;
  if (code === undefined || !isKnownOnnxType(code)) exact = false;
  const dtype = code === undefined ? undefined : dtypeFromOnnx(code);
  let shape: Dim[] | undefined;
  if (has(tt, 'shape')) {
    const s = decodeShape(tt.shape!);
    shape = s.dims;
    exact &&= s.exact;
  }
  return { dtype, shape, exact };
}

function decodeShape(sp: TensorShapeProto): { dims: Dim[]; exact: boolean } {
  let exact = true;
  const dims = (sp.dim ?? []).map((d): Dim => {
    if (has(d, 'denotation')) exact = false;
    if (has(d, 'dim_value')) return toNumber(d.dim_value!);
    if (has(d, 'dim_param')) {
      if (d.dim_param === '') exact = false;
      return d.dim_param!;
    }
    return null;
  });
  return { dims, exact };
}

export function encodeValueInfo(v: Value): ValueInfoProto {
  const vi: ValueInfoProto = { name: v.name };
  const type = encodeType(v);
  if (type) vi.type = type;
  if (v.docString !== undefined) vi.doc_string = v.docString;
  const extra = v.extra as OnnxValueExtra | undefined;
  if (extra?.format === 'onnx' && extra.metadataProps) vi.metadata_props = extra.metadataProps;
  return vi;
}

function encodeType(v: Value): TypeProto | undefined {
  const raw = v.typeExtra as TypeProto | undefined;
  if (raw) {
    const plain = plainTensorType(raw);
    // Keep the verbatim type unless a pass changed the tensor's dtype or shape since decoding.
    if (!plain || (plain.dtype === v.dtype && sameShape(plain.shape, v.shape))) return raw;
  }
  if (v.dtype === undefined && v.shape === undefined) return undefined;
  const tt: NonNullable<TypeProto['tensor_type']> = {};
  if (v.dtype !== undefined) tt.elem_type = dtypeToOnnx(v.dtype);
  if (v.shape) {
    tt.shape = {
      dim: v.shape.map((d) => (d === null ? {} : typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
    };
  }
  return { tensor_type: tt };
}

function sameShape(a: Dim[] | undefined, b: Dim[] | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Structural equality of two ValueInfoProtos as our decoder/encoder see them. */
export function sameValueInfo(a: ValueInfoProto, b: ValueInfoProto): boolean {
  return protoEqual(a, b);
}

/** Deep equality for decoded/encodable messages: present fields only, Longs by value, bytes by content. */
export function protoEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (isLong(a) || isLong(b)) return longKey(a) === longKey(b);
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.byteLength !== b.byteLength) return false;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => protoEqual(x, b[i]));
  }
  const ka = presentKeys(a);
  const kb = presentKeys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => kb.includes(k) && protoEqual(ra[k], rb[k]));
}

/** Keys of set fields; empty repeated fields count as absent (they are on the wire). */
function presentKeys(o: object): string[] {
  return Object.keys(o).filter((k) => {
    const v = (o as Record<string, unknown>)[k];
    return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
  });
}

function isLong(o: object): boolean {
  return 'low' in o && 'high' in o && typeof (o as { low: unknown }).low === 'number';
}

function longKey(o: unknown): string {
  if (typeof o === 'number') return String(o);
  if (typeof o !== 'object' || o === null || !('low' in o)) return 'x';
  const l = o as { low: number; high: number; unsigned?: boolean };
  const big = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return String(l.unsigned ? big : BigInt.asIntN(64, big));
}
