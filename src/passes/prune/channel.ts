import { Model, Node, Tensor, Value } from '../../ir';
import type { PruneTarget } from './types';

/**
 * Structured (channel) pruning surgery for ONNX graphs: removing output channel c
 * of a Conv / Gemm / MatMul deletes filter c and bias c, the matching entries of
 * any BatchNormalization after it, and input channel c of every consumer: a Conv's
 * W[:, c], a Gemm/MatMul's row c, or, after Flatten of [N, C, H, W], the H*W rows
 * c*H*W .. (c+1)*H*W - 1. Anything that couples channels across layers (Add,
 * Concat, Mul, Reshape, a grouped/depthwise Conv, a graph output) makes the layer
 * ineligible; it is skipped and reported rather than pruned inconsistently.
 */

/** One constant to shrink along `axis`, in blocks of `block` entries per channel. */
interface ConstEdit { value: Value; axis: number; block: number }
/** One value whose recorded shape loses channels along `axis` (in blocks). */
interface ShapeEdit { value: Value; axis: number; block: number }

export interface ChannelPlan {
  target: PruneTarget;
  channels: number;
  edits: ConstEdit[];
  shapes: ShapeEdit[];
}

/** Ops that act on each channel independently (the channel axis passes through unchanged). */
const PER_CHANNEL = new Set(['Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Identity', 'Clip', 'Erf', 'Elu', 'Selu', 'Softplus',
  'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Dropout']);

const isConst = (v: Value | null | undefined): boolean => !!v?.const;

/** Plans the removal of `target`'s output channels, or says why it cannot be done. */
export function planChannels(model: Model, target: PruneTarget): ChannelPlan | { reason: string } {
  const { node, value } = target;
  const W = value.const!;
  const op = node.opType;
  if (node.domain !== '' && node.domain !== 'ai.onnx') return { reason: 'channel pruning supports ONNX graphs only' };
  if (op === 'Conv' && node.attrInt('group', 1) !== 1) return { reason: 'grouped/depthwise Conv (channels are coupled)' };
  if (op === 'MatMul' && W.shape.length !== 2) return { reason: 'batched MatMul weight' };
  if (op !== 'Conv' && op !== 'Gemm' && op !== 'MatMul') return { reason: `${op} is not channel-prunable` };
  if (op === 'Gemm' && node.attrInt('transA', 0)) return { reason: 'Gemm with transA' };
  const channels = W.shape[target.outAxis];
  const edits: ConstEdit[] = [{ value, axis: target.outAxis, block: 1 }];
  const bias = op === 'MatMul' ? null : node.inputs[2];
  if (bias) {
    if (!isConst(bias)) return { reason: 'bias is not a constant' };
    const bs = bias.const!.shape;
    if (bs.length && bs[bs.length - 1] === channels) edits.push({ value: bias, axis: bs.length - 1, block: 1 });
    else if (bs.length && bs[bs.length - 1] !== 1) return { reason: 'bias does not broadcast per channel' };
  }
  const channelAxis = op === 'Conv' ? 1 : -1;
  const shapes: ShapeEdit[] = [];
  const why = follow(model, node.outputs[0], channelAxis, channels, edits, shapes);
  if (why) return { reason: why };
  return { target, channels, edits, shapes };
}

/** Walks the uses of `v` (whose `axis` holds the channels) to every consumer; returns a reason on failure. */
function follow(model: Model, v: Value, axis: number, channels: number, edits: ConstEdit[], shapes: ShapeEdit[]): string | undefined {
  if (model.graph.outputs.includes(v)) return `its channels reach graph output '${v.name}'`;
  shapes.push({ value: v, axis, block: 1 });
  if (v.uses.length === 0) return `output '${v.name}' is unused`;
  for (const { node: n, index } of v.uses) {
    const op = n.opType;
    if (n.domain !== '' && n.domain !== 'ai.onnx') return `consumer ${n.describe()} is not an ONNX op`;
    if (PER_CHANNEL.has(op) && index === 0) {
      if (op === 'Clip' && n.inputs.slice(1).some((x) => x && !isConst(x))) return `Clip bounds of ${n.describe()} are not constant`;
      const why = follow(model, n.outputs[0], axis, channels, edits, shapes);
      if (why) return why;
    } else if (op === 'BatchNormalization' && index === 0 && axis === 1) {
      for (let i = 1; i <= 4; i++) {
        if (!isConst(n.inputs[i])) return `${n.describe()} has non-constant parameters`;
        edits.push({ value: n.inputs[i]!, axis: 0, block: 1 });
      }
      const why = follow(model, n.outputs[0], axis, channels, edits, shapes);
      if (why) return why;
    } else if (op === 'Conv' && index === 0) {
      if (n.attrInt('group', 1) !== 1) return `consumer ${n.describe()} is grouped/depthwise (coupled channels)`;
      if (!isConst(n.inputs[1])) return `consumer ${n.describe()} has a non-constant weight`;
      edits.push({ value: n.inputs[1]!, axis: 1, block: 1 });
    } else if ((op === 'Gemm' || op === 'MatMul') && index === 0) {
      const why = rowsOf(n, channels, 1, edits);
      if (why) return why;
    } else if (op === 'Flatten' && index === 0 && axis === 1 && n.attrInt('axis', 1) === 1) {
      const out = n.outputs[0];
      if (model.graph.outputs.includes(out)) return `its channels reach graph output '${out.name}'`;
      for (const u of out.uses) {
        if ((u.node.opType !== 'Gemm' && u.node.opType !== 'MatMul') || u.index !== 0) return `Flatten output feeds ${u.node.describe()} (only Gemm/MatMul are handled after Flatten)`;
        const K = weightRows(u.node);
        if (K === undefined || K % channels !== 0) return `cannot map channels through Flatten into ${u.node.describe()}`;
        const why = rowsOf(u.node, channels, K / channels, edits);
        if (why) return why;
        shapes.push({ value: out, axis: 1, block: K / channels });
      }
    } else {
      return `channels feed ${n.describe()} (coupled or unsupported)`;
    }
  }
  return undefined;
}

/** Reduction size of a Gemm/MatMul's constant B. */
function weightRows(n: Node): number | undefined {
  const B = n.inputs[1]?.const;
  if (!B || B.shape.length !== 2) return undefined;
  return n.opType === 'Gemm' && n.attrInt('transB', 0) ? B.shape[1] : B.shape[0];
}

function rowsOf(n: Node, channels: number, block: number, edits: ConstEdit[]): string | undefined {
  const B = n.inputs[1];
  if (!B?.const || B.const.shape.length !== 2) return `consumer ${n.describe()} has no constant 2-D weight`;
  if (n.opType === 'Gemm' && n.attrInt('transA', 0)) return `consumer ${n.describe()} uses transA`;
  const axis = n.opType === 'Gemm' && n.attrInt('transB', 0) ? 1 : 0;
  if (B.const.shape[axis] !== channels * block) return `consumer ${n.describe()} expects ${B.const.shape[axis]} inputs, not ${channels}x${block}`;
  edits.push({ value: B, axis, block });
  return undefined;
}

/** Applies a plan: keeps only the channels not in `removed` (ascending indices). */
export function applyChannelPlan(plan: ChannelPlan, removed: readonly number[]): void {
  if (removed.length === 0) return;
  const drop = new Set(removed);
  const keep: number[] = [];
  for (let c = 0; c < plan.channels; c++) if (!drop.has(c)) keep.push(c);
  const done = new Set<Value>();
  for (const e of plan.edits) {
    if (done.has(e.value)) continue;
    done.add(e.value);
    const t = e.value.const!;
    const sliced = takeChannels(t, e.axis, keep, e.block);
    t.setData(t.dtype, sliced.shape, { kind: 'bytes', bytes: sliced.bytes });
    e.value.shape = [...sliced.shape];
  }
  for (const s of plan.shapes) {
    const shape = s.value.shape;
    if (!shape) continue;
    const a = s.axis < 0 ? shape.length + s.axis : s.axis;
    if (typeof shape[a] === 'number') shape[a] = keep.length * s.block;
  }
}

/** Copies the blocks of `keep` along `axis` (each channel owns `block` consecutive entries). */
function takeChannels(t: Tensor, axis: number, keep: readonly number[], block: number): { shape: number[]; bytes: Uint8Array } {
  const shape = t.shape;
  const elem = t.byteLength / Math.max(1, t.size);
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1) * elem;
  const src = t.bytes();
  const D = shape[axis];
  const newShape = [...shape];
  newShape[axis] = keep.length * block;
  const out = new Uint8Array(outer * newShape[axis] * inner);
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (const c of keep) {
      const start = (o * D + c * block) * inner;
      out.set(src.subarray(start, start + block * inner), w);
      w += block * inner;
    }
  }
  return { shape: newShape, bytes: out };
}

/**
 * Multiply-accumulates per sample of the Conv/Gemm/MatMul nodes: a Conv costs
 * (output pixels) x (weight size), a Gemm/MatMul with constant B its weight size.
 * `shapeOf` gives a value's shape (from a forward pass); undefined if a Conv's is unknown.
 */
export function countMacs(model: Model, shapeOf: (v: Value) => readonly (number | string | null)[] | undefined = (v) => v.shape): number | undefined {
  let total = 0;
  for (const n of model.graph.nodes) {
    const W = n.inputs[1]?.const;
    const out = n.outputs[0] ? shapeOf(n.outputs[0]) : undefined;
    if (!W || (n.opType !== 'Conv' && n.opType !== 'Gemm' && n.opType !== 'MatMul')) continue;
    if (n.opType === 'Conv') {
      if (!out || out.slice(2).some((d) => typeof d !== 'number')) return undefined;
      const spatial = (out.slice(2) as number[]).reduce((p, d) => p * d, 1);
      total += spatial * W.size; // each output pixel: M * C/g * kH * kW MACs
    } else {
      total += W.size;
    }
  }
  return total;
}
