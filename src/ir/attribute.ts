import type { Graph } from './graph';
import type { Tensor } from './tensor';

/** A sparse tensor: values plus int64 indices, dense shape (ONNX SparseTensorProto). */
export interface SparseTensor {
  values: Tensor;
  indices: Tensor;
  dims: number[];
}

/**
 * Typed attribute values. Integers are bigint because ONNX attributes are int64
 * (Slice uses INT64_MAX); use the helpers on Node for plain numbers.
 * `json` carries an attribute verbatim for formats whose attributes are JSON (tfjs graph-model).
 */
export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: bigint }
  | { type: 'string'; value: Uint8Array }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'sparse_tensor'; value: SparseTensor }
  | { type: 'type_proto'; value: unknown }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: bigint[] }
  | { type: 'strings'; value: Uint8Array[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  | { type: 'sparse_tensors'; value: SparseTensor[] }
  | { type: 'type_protos'; value: unknown[] }
  | { type: 'json'; value: unknown }
  | { type: 'undefined'; value: undefined };

export type Attribute = AttributeValue & {
  name: string;
  docString?: string;
  /** Set inside functions: the attribute refers to the caller's attribute of this name. */
  refAttrName?: string;
  /** Format-specific extras kept verbatim. */
  extra?: unknown;
};

const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

export function stringAttr(name: string, s: string): Attribute {
  return { name, type: 'string', value: utf8enc.encode(s) };
}

export function intAttr(name: string, v: number | bigint): Attribute {
  return { name, type: 'int', value: BigInt(v) };
}

export function intsAttr(name: string, v: readonly (number | bigint)[]): Attribute {
  return { name, type: 'ints', value: v.map((x) => BigInt(x)) };
}

export function floatAttr(name: string, v: number): Attribute {
  return { name, type: 'float', value: v };
}

export function decodeUtf8(b: Uint8Array): string {
  return utf8.decode(b);
}
