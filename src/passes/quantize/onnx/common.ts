/** Helpers shared by the ONNX emitters. */
import { DType, float32ToBfloat16Bytes, float32ToFloat16Bytes, Node, NodeInit, Tensor, Value } from '../../../ir';
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
  /**
   * Set when `node` sits in a subgraph below the weight's graph: the node of the
   * weight's graph that holds it. New nodes go before the anchor, in the weight's
   * graph; the consumer reads their output through the enclosing scope.
   */
  anchor?: Node;
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

/** The float types a weight can have here; the emitters keep the graph in the weight's own type. */
export type WeightFloat = 'float32' | 'float16' | 'bfloat16';

/** The weight's float type (float32 for anything else, which selectWeights never passes). */
export function weightFloat(weight: Value): WeightFloat {
  const d = weight.const?.dtype;
  return d === 'float16' || d === 'bfloat16' ? d : 'float32';
}

/** A float constant stored as `dtype` (values rounded to nearest even for the 16-bit types). */
export function floatConstant(ctx: EmitContext, base: string, shape: number[], data: Float32Array, dtype: WeightFloat = 'float32'): Value {
  const bytes = dtype === 'float16' ? float32ToFloat16Bytes(data)
    : dtype === 'bfloat16' ? float32ToBfloat16Bytes(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return constant(ctx, base, dtype, shape, bytes);
}

/** Bytes of a quantized tensor in ONNX storage (4-bit packed). */
export function storedBytes(values: Int8Array | Uint8Array, dtype: QuantizedWeight['dtype']): Uint8Array {
  if (dtype === 'int4' || dtype === 'uint4') return packNibbles(values);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** A fresh float intermediate value (float32 unless told). */
export function floatValue(ctx: EmitContext, base: string, shape?: Value['shape'], dtype: WeightFloat = 'float32'): Value {
  return new Value(ctx.names.fresh(base), { dtype, shape: shape ? [...shape] : undefined });
}

/** ONNX TensorProto.DataType codes of the float types, for Cast's `to`. */
export const ONNX_FLOAT_CODE: Readonly<Record<WeightFloat, number>> = { float32: 1, float16: 10, bfloat16: 16 };

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
