/**
 * TensorFlow dtype enums and AttrValue JSON (protobuf JSON mapping of
 * tensorflow/core/framework/{types,attr_value}.proto), as graph-model
 * model.json spells them.
 */
import type { Attribute, DType, Dim } from '../../ir';
import { UnsupportedError } from '../../errors';
import { isObject } from './types';

const TF_TO_IR: Readonly<Record<string, DType>> = {
  DT_FLOAT: 'float32', DT_DOUBLE: 'float64', DT_HALF: 'float16', DT_BFLOAT16: 'bfloat16',
  DT_INT8: 'int8', DT_INT16: 'int16', DT_INT32: 'int32', DT_INT64: 'int64',
  DT_UINT8: 'uint8', DT_UINT16: 'uint16', DT_UINT32: 'uint32', DT_UINT64: 'uint64',
  DT_BOOL: 'bool', DT_STRING: 'string', DT_COMPLEX64: 'complex64', DT_COMPLEX128: 'complex128',
};

const IR_TO_TF: Readonly<Partial<Record<DType, string>>> = Object.fromEntries(
  Object.entries(TF_TO_IR).map(([tf, ir]) => [ir, tf]),
);

export function irDtypeOfTf(tf: unknown): DType | undefined {
  return typeof tf === 'string' ? TF_TO_IR[tf] : undefined;
}

export function tfDtypeOf(d: DType): string {
  const tf = IR_TO_TF[d];
  if (!tf) throw new UnsupportedError(`no TensorFlow dtype for ${d}`);
  return tf;
}

/** Dims of a TensorShapeProto JSON ({dim:[{size:'3'}], unknownRank}); -1 → null; undefined for unknown rank. */
export function dimsOfTfShape(shape: unknown): Dim[] | undefined {
  if (!isObject(shape) || shape.unknownRank) return undefined;
  const dims = Array.isArray(shape.dim) ? shape.dim : [];
  return dims.map((d: unknown) => {
    const n = isObject(d) ? Number(d.size ?? 0) : 0;
    return n < 0 ? null : n;
  });
}

/** TensorShapeProto JSON of a static shape, spelled like tfjs-converter (int64 sizes as strings, {} for scalars). */
export function tfShapeOf(shape: readonly number[]): Record<string, unknown> {
  return shape.length ? { dim: shape.map((n) => ({ size: String(n) })) } : {};
}

/**
 * AttrValue JSON of an IR attribute. `json` attributes (as decoded) go back
 * verbatim; plain typed attributes that a pass may have added are converted.
 */
export function tfAttrOf(a: Attribute): unknown {
  switch (a.type) {
    case 'json': return a.value;
    case 'int': return { i: a.value.toString() };
    case 'float': return { f: a.value };
    case 'string': return { s: Buffer.from(a.value).toString('base64') };
    case 'ints': return { list: { i: a.value.map((v) => v.toString()) } };
    case 'floats': return { list: { f: [...a.value] } };
    case 'strings': return { list: { s: a.value.map((v) => Buffer.from(v).toString('base64')) } };
    default: throw new UnsupportedError(`attribute '${a.name}' of type ${a.type} has no tfjs graph-model encoding`);
  }
}
