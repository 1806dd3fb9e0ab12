/**
 * What the channel dependency graph needs to know about shapes without running the
 * model: constant integers (initializers or Constant nodes), ranks inferred from
 * producers, and the entries of shape tensors that exporters build in the graph
 * (Shape → Slice/Gather → Concat → Reshape), so that dynamic Reshapes can be followed.
 */
import type { Tensor, Value } from '../ir';
import { constantNodeTensor, isConstantNode } from './constants';

/** Integer entries of a constant input (int64/int32), or undefined. */
export function intsOf(v: Value | null | undefined): number[] | undefined {
  const t: Tensor | undefined = constantOf(v);
  if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32')) return undefined;
  return Array.from(t.typed() as ArrayLike<number | bigint>, Number);
}

export function floatsOf(v: Value | null | undefined): number[] | undefined {
  const t = constantOf(v);
  if (!t || !t.dtype.startsWith('float')) return undefined;
  return Array.from(t.toFloat32());
}

/**
 * A constant input's tensor: an initializer, or the tensor of the Constant node that
 * writes it (lifting turns weights into initializers; shape, axis and scalar constants stay nodes).
 */
export function constantOf(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  if (v.const) return v.const;
  const p = v.producer;
  return p && isConstantNode(p) ? constantNodeTensor(p) ?? undefined : undefined;
}

export const norm = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

const rankMemo = new WeakMap<Value, number | null>();
const SAME_RANK = new Set(['Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Softplus', 'Erf', 'Gelu', 'Exp', 'Log', 'Sqrt',
  'Abs', 'Neg', 'Reciprocal', 'Identity', 'Dropout', 'Clip', 'Cast', 'Softmax', 'LogSoftmax', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization',
  'Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Resize', 'Pad', 'Concat', 'Slice', 'Split', 'PRelu']);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'Sum', 'Mean', 'Where', 'Equal', 'Less', 'Greater', 'MatMul']);

/**
 * The length of a 1-D integer tensor computed in the graph (a shape built from
 * Shape, Slice, Gather, Unsqueeze and Concat, as exporters write dynamic Reshapes).
 */
function lengthOf(v: Value | null | undefined): number | undefined {
  return v ? shapeEntries(v)?.length : undefined;
}

/** A value's rank: its recorded shape, else inferred from its producer for common ops; undefined when unknown. */
export function rankOf(v: Value | null | undefined): number | undefined {
  if (!v) return undefined;
  const c = constantOf(v);
  if (c) return c.shape.length;
  if (v.shape) return v.shape.length;
  if (rankMemo.has(v)) return rankMemo.get(v) ?? undefined;
  rankMemo.set(v, null); // cycles (none in a valid graph) stay unknown
  const n = v.producer;
  let r: number | undefined;
  if (n && (n.domain === '' || n.domain === 'ai.onnx')) {
    const op = n.opType;
    if (SAME_RANK.has(op)) r = rankOf(n.inputs[0]);
    else if (BROADCAST.has(op)) {
      const rs = n.inputs.map((x) => rankOf(x));
      r = rs.every((x) => x !== undefined) ? Math.max(...(rs as number[])) : undefined;
    } else if (op === 'Transpose') r = n.attributes.has('perm') ? n.attrInts('perm').length : rankOf(n.inputs[0]);
    else if (op === 'Reshape' || op === 'Expand') r = lengthOf(n.inputs[1]);
    else if (op === 'Gather') {
      const [d, i] = [rankOf(n.inputs[0]), rankOf(n.inputs[1])];
      r = d === undefined || i === undefined ? undefined : d + i - 1;
    } else if (op === 'Shape') r = 1;
    else if (op === 'Gemm' || op === 'Flatten') r = 2;
    else if (op.startsWith('Reduce')) {
      const axes = n.inputs[1] ? intsOf(n.inputs[1]) : n.attributes.has('axes') ? n.attrInts('axes') : undefined;
      const ri = rankOf(n.inputs[0]);
      r = ri === undefined ? undefined : n.attrInt('keepdims', 1) ? ri : axes ? ri - axes.length : 0;
    } else if (op === 'Unsqueeze' || op === 'Squeeze') {
      const axes = n.inputs[1] ? intsOf(n.inputs[1]) : n.attributes.has('axes') ? n.attrInts('axes') : undefined;
      const ri = rankOf(n.inputs[0]);
      r = ri === undefined || !axes ? undefined : op === 'Unsqueeze' ? ri + axes.length : ri - axes.length;
    }
  }
  rankMemo.set(v, r ?? null);
  return r;
}

/** One entry of a shape tensor: a number (from `src`, entry `index`, when it is a constant), or dim `axis` of a tensor. */
export interface ShapeEntry {
  value?: number;
  src?: { value: Value; index: number };
  dimOf?: Value;
  axis?: number;
}

/**
 * The entries of a 1-D shape tensor, constant or built in the graph from Shape,
 * Slice, Gather, Unsqueeze, Cast and Concat (exporters' dynamic Reshapes); undefined
 * entries are unknown.
 */
export function shapeEntries(v: Value): (ShapeEntry | undefined)[] | undefined {
  const c = constantOf(v);
  if (c) {
    const ints = intsOf(v);
    return ints && c.shape.length <= 1 ? ints.map((value, index) => ({ value, src: { value: v, index } })) : undefined;
  }
  const n = v.producer;
  if (!n || (n.domain !== '' && n.domain !== 'ai.onnx')) return undefined;
  switch (n.opType) {
    case 'Shape': {
      const r = rankOf(n.inputs[0]);
      if (r === undefined) return undefined;
      const start = Math.max(0, norm(n.attrInt('start', 0), r));
      const end = Math.min(r, n.attributes.has('end') ? norm(n.attrInt('end'), r) : r);
      return Array.from({ length: Math.max(0, end - start) }, (_, i) => ({ dimOf: n.inputs[0]!, axis: start + i }));
    }
    case 'Cast': case 'Identity': case 'Unsqueeze': case 'Squeeze':
      return rankOf(n.inputs[0]) === (n.opType === 'Unsqueeze' ? 0 : 1) || n.opType === 'Cast' || n.opType === 'Identity' ? shapeEntries(n.inputs[0]!) : undefined;
    case 'Concat': {
      const parts = n.inputs.map((x) => (x ? shapeEntries(x) : undefined));
      return parts.every((x) => x) ? parts.flatMap((x) => x!) : undefined;
    }
    case 'Slice': {
      const all = shapeEntries(n.inputs[0]!);
      const fromAttr = n.inputs.length < 3 && n.attributes.has('starts');
      const [starts, ends] = fromAttr ? [n.attrInts('starts'), n.attrInts('ends')] : [intsOf(n.inputs[1]), intsOf(n.inputs[2])];
      const steps = n.inputs[4] ? intsOf(n.inputs[4]) : [1];
      if (!all || !starts || !ends || starts.length !== 1 || steps?.[0] !== 1) return undefined;
      const clamp = (x: number): number => Math.max(0, Math.min(all.length, x < 0 ? x + all.length : x));
      return all.slice(clamp(starts[0]), clamp(ends[0]));
    }
    case 'Gather': {
      const all = shapeEntries(n.inputs[0]!);
      const idx = intsOf(n.inputs[1]);
      if (!all || !idx || n.attrInt('axis', 0) !== 0) return undefined;
      return idx.map((i) => all[i < 0 ? i + all.length : i]);
    }
    default: return undefined;
  }
}

