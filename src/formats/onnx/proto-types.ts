/**
 * Shapes of the ONNX messages as protobufjs decodes them (keepCase: snake_case
 * names) and as our encoder builds them. A field that is absent on the wire is
 * absent here (proto2 presence), which is what lets us re-encode losslessly.
 */

/** protobufjs decodes int64 as Long; we write {low, high} or numbers back. */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}
export type I64 = number | LongLike;

export interface StringStringEntryProto { key?: string; value?: string }

export interface OperatorSetIdProto { domain?: string; version?: I64 }

export interface TensorProto {
  dims?: I64[];
  data_type?: number;
  segment?: { begin?: I64; end?: I64 };
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: I64[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: I64[];
  metadata_props?: StringStringEntryProto[];
}

export interface SparseTensorProto { values?: TensorProto; indices?: TensorProto; dims?: I64[] }

export interface DimensionProto { dim_value?: I64; dim_param?: string; denotation?: string }
export interface TensorShapeProto { dim?: DimensionProto[] }

export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  opaque_type?: { domain?: string; name?: string };
  denotation?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
}

export interface AttributeProto {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: I64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: I64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  /** Kept verbatim (NodeDeviceConfigurationProto). */
  device_configurations?: object[];
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  /** Kept verbatim (TensorAnnotation). */
  quantization_annotation?: object[];
  metadata_props?: StringStringEntryProto[];
}

export interface FunctionProto {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attribute_proto?: AttributeProto[];
  node?: NodeProto[];
  doc_string?: string;
  opset_import?: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfoProto[];
  metadata_props?: StringStringEntryProto[];
}

export interface ModelProto {
  ir_version?: I64;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: I64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  /** Kept verbatim (TrainingInfoProto). */
  training_info?: object[];
  functions?: FunctionProto[];
  /** Kept verbatim (DeviceConfigurationProto). */
  configuration?: object[];
}

/** True when a decoded message carries `key` on the wire (not just a prototype default). */
export function has<T extends object>(m: T, key: keyof T): boolean {
  return Object.prototype.hasOwnProperty.call(m, key) && m[key] !== undefined && m[key] !== null;
}

export function toBigInt(v: I64): bigint {
  if (typeof v === 'number') return BigInt(v);
  const big = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return v.unsigned ? big : BigInt.asIntN(64, big);
}

export function toNumber(v: I64): number {
  return typeof v === 'number' ? v : Number(toBigInt(v));
}

export function fromBigInt(v: bigint, unsigned = false): LongLike {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned };
}

export function fromNumber(v: number): LongLike {
  return fromBigInt(BigInt(v));
}
