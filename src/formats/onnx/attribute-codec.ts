import { Attribute, AttributeValue, Graph, SparseTensor } from '../../ir';
import { UnsupportedError } from '../../errors';
import { decodeTensor, encodeTensor, TensorDecodeContext, TensorEncodeContext } from './tensor-codec';
import { AttributeProto, fromBigInt, GraphProto, has, SparseTensorProto, toBigInt, toNumber, TypeProto } from './proto-types';

/** AttributeProto.AttributeType codes. */
const TYPE_CODE = {
  undefined: 0, float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7, strings: 8,
  tensors: 9, graphs: 10, sparse_tensor: 11, sparse_tensors: 12, type_proto: 13, type_protos: 14,
} as const;
type OnnxAttrType = keyof typeof TYPE_CODE;
const TYPE_NAME = new Map<number, OnnxAttrType>(Object.entries(TYPE_CODE).map(([k, v]) => [v, k as OnnxAttrType]));

/** Attribute.extra for attributes decoded from ONNX. */
export interface OnnxAttributeExtra {
  readonly format: 'onnx';
  /** IR < 3 files may omit AttributeProto.type; we infer it and do not write it back. */
  typeAbsent?: boolean;
  /**
   * The scalar value field was absent (a function attribute that only carries
   * ref_attr_name): the IR holds the type's default, which is not written back.
   */
  valueAbsent?: boolean;
  /** A type code the IR does not know, kept with its proto verbatim. */
  raw?: AttributeProto;
}

/** The message field holding a single-valued attribute. */
const SCALAR_FIELD: Partial<Record<OnnxAttrType, keyof AttributeProto>> = {
  float: 'f', int: 'i', string: 's', tensor: 't', graph: 'g', sparse_tensor: 'sparse_tensor', type_proto: 'tp',
};

function isDefaultValue(attr: Attribute): boolean {
  switch (attr.type) {
    case 'float': return Object.is(attr.value, 0);
    case 'int': return attr.value === 0n;
    case 'string': return attr.value.byteLength === 0;
    default: return true;
  }
}

export interface AttributeDecodeContext extends TensorDecodeContext {
  decodeGraph: (g: GraphProto) => Graph;
}

export interface AttributeEncodeContext extends TensorEncodeContext {
  encodeGraph: (g: Graph) => GraphProto;
}

/** Old files without `type`: the single populated field tells the type. */
function inferType(a: AttributeProto): number {
  const order: [keyof AttributeProto, OnnxAttrType][] = [
    ['f', 'float'], ['i', 'int'], ['s', 'string'], ['t', 'tensor'], ['g', 'graph'], ['sparse_tensor', 'sparse_tensor'], ['tp', 'type_proto'],
    ['floats', 'floats'], ['ints', 'ints'], ['strings', 'strings'], ['tensors', 'tensors'], ['graphs', 'graphs'],
    ['sparse_tensors', 'sparse_tensors'], ['type_protos', 'type_protos'],
  ];
  for (const [field, t] of order) {
    const v = a[field];
    if (has(a, field) && !(Array.isArray(v) && v.length === 0)) return TYPE_CODE[t];
  }
  return TYPE_CODE.undefined;
}

export function decodeSparse(sp: SparseTensorProto, ctx: TensorDecodeContext): SparseTensor {
  return {
    values: decodeTensor(sp.values ?? {}, ctx),
    indices: decodeTensor(sp.indices ?? {}, ctx),
    dims: (sp.dims ?? []).map(toNumber),
  };
}

export function encodeSparse(s: SparseTensor, ctx: TensorEncodeContext): SparseTensorProto {
  return { values: encodeTensor(s.values, undefined, ctx), indices: encodeTensor(s.indices, undefined, ctx), dims: s.dims };
}

export function decodeAttribute(a: AttributeProto, ctx: AttributeDecodeContext): Attribute {
  const code = has(a, 'type') ? a.type! : inferType(a);
  const extra: OnnxAttributeExtra = { format: 'onnx' };
  if (!has(a, 'type')) extra.typeAbsent = true;
  const typeName = TYPE_NAME.get(code);
  let value: AttributeValue;
  const scalarField = typeName ? SCALAR_FIELD[typeName] : undefined;
  if (scalarField && !has(a, scalarField)) extra.valueAbsent = true;
  if (typeName === undefined) {
    extra.raw = a;
    value = { type: 'undefined', value: undefined };
  } else {
    value = decodeValue(typeName, a, ctx);
  }
  const attr: Attribute = { name: a.name ?? '', ...value };
  if (has(a, 'doc_string')) attr.docString = a.doc_string;
  if (has(a, 'ref_attr_name')) attr.refAttrName = a.ref_attr_name;
  if (extra.typeAbsent || extra.raw || extra.valueAbsent) attr.extra = extra;
  return attr;
}

function decodeValue(t: OnnxAttrType, a: AttributeProto, ctx: AttributeDecodeContext): AttributeValue {
  switch (t) {
    case 'undefined': return { type: 'undefined', value: undefined };
    case 'float': return { type: 'float', value: a.f ?? 0 };
    case 'int': return { type: 'int', value: a.i === undefined ? 0n : toBigInt(a.i) };
    case 'string': return { type: 'string', value: a.s ?? new Uint8Array(0) };
    case 'tensor': return { type: 'tensor', value: decodeTensor(a.t ?? {}, ctx) };
    case 'graph': return { type: 'graph', value: ctx.decodeGraph(a.g ?? {}) };
    case 'sparse_tensor': return { type: 'sparse_tensor', value: decodeSparse(a.sparse_tensor ?? {}, ctx) };
    case 'type_proto': return { type: 'type_proto', value: a.tp ?? {} };
    case 'floats': return { type: 'floats', value: [...(a.floats ?? [])] };
    case 'ints': return { type: 'ints', value: (a.ints ?? []).map(toBigInt) };
    case 'strings': return { type: 'strings', value: [...(a.strings ?? [])] };
    case 'tensors': return { type: 'tensors', value: (a.tensors ?? []).map((x) => decodeTensor(x, ctx)) };
    case 'graphs': return { type: 'graphs', value: (a.graphs ?? []).map((g) => ctx.decodeGraph(g)) };
    case 'sparse_tensors': return { type: 'sparse_tensors', value: (a.sparse_tensors ?? []).map((s) => decodeSparse(s, ctx)) };
    case 'type_protos': return { type: 'type_protos', value: [...(a.type_protos ?? [])] };
  }
}

export function encodeAttribute(attr: Attribute, ctx: AttributeEncodeContext): AttributeProto {
  const extra = attr.extra as OnnxAttributeExtra | undefined;
  if (extra?.format === 'onnx' && extra.raw) return extra.raw;
  const a: AttributeProto = { name: attr.name };
  if (attr.refAttrName !== undefined) a.ref_attr_name = attr.refAttrName;
  if (attr.docString !== undefined) a.doc_string = attr.docString;
  if (attr.type === 'json') throw new UnsupportedError(`attribute '${attr.name}' holds JSON, which ONNX cannot store`);
  if (!(extra?.format === 'onnx' && extra.typeAbsent)) a.type = TYPE_CODE[attr.type];
  if (extra?.format === 'onnx' && extra.valueAbsent && isDefaultValue(attr)) return a;
  switch (attr.type) {
    case 'undefined': break;
    case 'float': a.f = attr.value; break;
    case 'int': a.i = fromBigInt(attr.value); break;
    case 'string': a.s = attr.value; break;
    case 'tensor': a.t = encodeTensor(attr.value, undefined, ctx); break;
    case 'graph': a.g = ctx.encodeGraph(attr.value); break;
    case 'sparse_tensor': a.sparse_tensor = encodeSparse(attr.value, ctx); break;
    case 'type_proto': a.tp = attr.value as TypeProto; break;
    case 'floats': a.floats = attr.value; break;
    case 'ints': a.ints = attr.value.map((v) => fromBigInt(v)); break;
    case 'strings': a.strings = attr.value; break;
    case 'tensors': a.tensors = attr.value.map((t) => encodeTensor(t, undefined, ctx)); break;
    case 'graphs': a.graphs = attr.value.map((g) => ctx.encodeGraph(g)); break;
    case 'sparse_tensors': a.sparse_tensors = attr.value.map((s) => encodeSparse(s, ctx)); break;
    case 'type_protos': a.type_protos = attr.value as TypeProto[]; break;
  }
  return a;
}
