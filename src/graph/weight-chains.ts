/**
 * Weights that reach their op through data-movement nodes.
 *
 * PyTorch's ONNX export of nn.LSTM stores `weight_ih` [4H, in] in PyTorch's gate
 * order (i, f, g, o) and reorders it at run time into ONNX's (i, o, f, c):
 * Slice → Concat → Unsqueeze → LSTM.W (Silero VAD v5). Transposed and reshaped
 * MatMul weights are the same pattern. Such a weight has no weight slot of its
 * own, but every path from it moves values without changing them and ends in
 * one. Dequantizing the stored tensor ahead of the chain is then exact in form
 * (the chain moves dequantized floats), whichever axis the scales run along;
 * the axis only decides the quality, so the chain is traced to find the stored
 * axis that becomes the consuming op's output-channel (and reduction) axis.
 */
import type { Node, OpRegistry, Value } from '../ir';
import { constantNodeTensor, isConstantNode } from './constants';

/** Where one path from the weight ends: a weight slot, with the stored tensor's axes that land on its axes. */
export interface ChainEnd {
  node: Node;
  index: number;
  /** Axis of the stored tensor that becomes the op's output-channel axis, when the chain keeps it. */
  outAxis?: number;
  inAxis?: number;
}

export type ChainTrace =
  | { ok: true; ends: ChainEnd[]; ops: string[] }
  /** `role` is set when a path ends in a bias or norm slot: the tensor is such a parameter, not a weight. */
  | { ok: false; reason: string; role?: 'bias' | 'norm' };

/** Ops that only move values, with the input slot that carries the data (-1: every input, Concat). */
const MOVES: Readonly<Record<string, number>> = {
  Identity: 0, Slice: 0, Concat: -1, Unsqueeze: 0, Squeeze: 0, Transpose: 0, Reshape: 0, Flatten: 0, Split: 0, Gather: 0,
};

const MAX_DEPTH = 16;

/**
 * Follows every use of `v` through data-movement ops. `ok` when each path ends in
 * a 'weight' or 'embedding' slot of the registry (and at least one does).
 */
export function traceWeightChain(v: Value, rank: number, registry: OpRegistry): ChainTrace {
  const ends: ChainEnd[] = [];
  const ops = new Set<string>();
  // axes[s] = where stored axis s sits in the current value of rank `rank` (undefined once a Reshape mixes them).
  let paramRole: 'bias' | 'norm' | undefined;
  const walk = (x: Value, t: Tracked, depth: number): string | null => {
    if (depth > MAX_DEPTH) return `a chain of more than ${MAX_DEPTH} data-movement nodes`;
    for (const { node, index } of x.uses) {
      const slot = t.rank === undefined ? undefined : registry.slotOf(node, index, t.rank);
      if (slot) {
        if (slot.spec.role === 'bias' || slot.spec.role === 'norm') {
          paramRole = slot.spec.role;
          return `reaches the ${slot.spec.role} slot of ${node.describe()}`;
        }
        ends.push({ node, index, outAxis: stored(t.axes, slot.outAxis), inAxis: stored(t.axes, slot.inAxis) });
        continue;
      }
      const data = node.domain === '' ? MOVES[node.opType] : undefined;
      if (data === undefined || (data >= 0 && data !== index)) return `read by ${node.opType}`;
      ops.add(node.opType);
      const next = mapAxes(node, t);
      for (const o of node.outputs) {
        const why = walk(o, next, depth + 1);
        if (why) return why;
      }
    }
    return null;
  };
  const why = walk(v, { axes: Array.from({ length: rank }, (_, i) => i), rank }, 0);
  if (why) return { ok: false, reason: why, role: paramRole };
  if (ends.length === 0) return { ok: false, reason: 'reaches no weight slot' };
  return { ok: true, ends, ops: [...ops] };
}

/** Stored axis s sits at axes[s] of the current value, whose rank is `rank` (undefined: unknown). */
interface Tracked {
  axes: (number | undefined)[];
  rank?: number;
}

function stored(axes: readonly (number | undefined)[], target: number | undefined): number | undefined {
  if (target === undefined) return undefined;
  const s = axes.indexOf(target);
  return s >= 0 ? s : undefined;
}

/** Where each stored axis sits after `node` (Unsqueeze/Squeeze shift them; Reshape/Flatten lose them). */
function mapAxes(node: Node, t: Tracked): Tracked {
  const lost: Tracked = { axes: t.axes.map(() => undefined) };
  const { axes, rank } = t;
  switch (node.opType) {
    case 'Identity': case 'Slice': case 'Concat': case 'Split':
      return t;
    case 'Gather':
      // 1-D indices keep the rank; a scalar index drops the gathered axis.
      return constInts(node.inputs[1] ?? null)?.rank === 1 ? t : lost;
    case 'Transpose': {
      const perm = node.attributes.has('perm') ? node.attrInts('perm') : rank !== undefined ? [...Array(rank).keys()].reverse() : undefined;
      return perm ? { axes: axes.map((a) => (a === undefined ? a : perm.indexOf(a))), rank } : lost;
    }
    case 'Unsqueeze': {
      const list = node.attributes.has('axes') ? node.attrInts('axes') : constInts(node.inputs[1] ?? null)?.values;
      if (!list || rank === undefined) return lost;
      const outRank = rank + list.length;
      const inserted = new Set(list.map((a) => (a < 0 ? a + outRank : a)));
      const positions: number[] = [];
      for (let p = 0; p < outRank; p++) if (!inserted.has(p)) positions.push(p);
      return { axes: axes.map((a) => (a === undefined ? a : positions[a])), rank: outRank };
    }
    case 'Squeeze': {
      const list = node.attributes.has('axes') ? node.attrInts('axes') : constInts(node.inputs[1] ?? null)?.values;
      if (!list || rank === undefined) return lost;
      const removed = list.map((a) => (a < 0 ? a + rank : a));
      const shift = (a: number): number | undefined => (removed.includes(a) ? undefined : a - removed.filter((r) => r < a).length);
      return { axes: axes.map((a) => (a === undefined ? a : shift(a))), rank: rank - removed.length };
    }
    default:
      return lost;
  }
}

/** An int list held by an initializer or a Constant node, with its rank. */
function constInts(v: Value | null): { values: number[]; rank: number } | undefined {
  if (!v) return undefined;
  const t = v.const ?? (v.producer && isConstantNode(v.producer) ? constantNodeTensor(v.producer) : null);
  if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32')) return undefined;
  return { values: Array.from(t.typed() as ArrayLike<number | bigint>, Number), rank: t.shape.length };
}
