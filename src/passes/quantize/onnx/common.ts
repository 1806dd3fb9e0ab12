/** Helpers shared by the ONNX emitters. */
import { DType, Node, NodeInit, Tensor, Value } from '../../../ir';
import type { GraphEdit, NameAllocator } from '../edits';
import { packNibbles } from '../int4';
import type { QuantizedWeight } from '../weights';

/** One node input that reads the weight being quantized. */
export interface Consumer {
  node: Node;
  /** Input slot of the weight. */
  index: number;
  outAxis?: number;
  inAxis?: number;
}

/** What an emitter returns: edits, the opsets they need, and the bytes of the new constants. */
export interface Emission {
  edits: GraphEdit[];
  opsets: { domain: string; version: number }[];
  /** Bytes of every constant the emission adds (quantized data, scales, zero points). */
  bytesAfter: number;
  /** Existing constants the edits may leave unread (a Conv bias replaced by its reshaped copy); dropped if so. */
  obsolete?: Value[];
  /** Short human label of the output form, e.g. 'DequantizeLinear int8 axis=0'. */
  form: string;
}

export interface EmitContext {
  names: NameAllocator;
}

/** A new constant Value (not yet in the graph: pair it with an addInitializer edit). */
export function constant(ctx: EmitContext, base: string, dtype: DType, shape: number[], bytes: Uint8Array): Value {
  const name = ctx.names.fresh(base);
  return new Value(name, { dtype, shape: [...shape], const: Tensor.fromBytes(dtype, [...shape], bytes, name) });
}

export function floatConstant(ctx: EmitContext, base: string, shape: number[], data: Float32Array): Value {
  return constant(ctx, base, 'float32', shape, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** Bytes of a quantized tensor in ONNX storage (4-bit packed). */
export function storedBytes(values: Int8Array | Uint8Array, dtype: QuantizedWeight['dtype']): Uint8Array {
  if (dtype === 'int4' || dtype === 'uint4') return packNibbles(values);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** A fresh float32 intermediate value. */
export function floatValue(ctx: EmitContext, base: string, shape?: Value['shape']): Value {
  return new Value(ctx.names.fresh(base), { dtype: 'float32', shape: shape ? [...shape] : undefined });
}

export function node(ctx: EmitContext, opType: string, base: string, init: Omit<NodeInit, 'opType' | 'name'>): NodeInit {
  return { opType, name: ctx.names.fresh(base), ...init };
}

export function addAll(values: Value[]): GraphEdit[] {
  return values.map((value) => ({ kind: 'addInitializer' as const, value }));
}

export function byteSum(values: Value[]): number {
  return values.reduce((s, v) => s + (v.const?.byteLength ?? 0), 0);
}

/** Base name for new things derived from a node (its name, or its first output). */
export function nodeBase(n: Node): string {
  return n.name || n.outputs[0]?.name || n.opType;
}
