import type { Model, Value } from '../../ir';
import { buildChannelGraph, type ChannelGroup } from '../../graph/channel-deps';
import { rankAscending } from './select';
import type { PruneTarget, SkippedLayer } from './types';

/**
 * Structured (channel) pruning over the channel dependency graph (graph/channel-deps.ts).
 * A pruner never looks at the graph's ops: it asks for groups, scores each group's
 * channels by the summed scores of the layers whose output channels it holds, and
 * removes whole classes; `pruneGroup` slices every tensor of the group.
 */

/** A prunable group and the targets whose output channels (filters) it slices. */
export interface TargetGroup {
  readonly group: ChannelGroup;
  readonly members: readonly { readonly target: PruneTarget; readonly port: number }[];
}

/** A group that cannot be pruned, with its layers and why. */
export interface BlockedGroup {
  readonly layers: readonly string[];
  readonly channels: number;
  readonly reasons: readonly string[];
}

const outAxisOf = (t: PruneTarget): number => (t.outAxis < 0 ? t.outAxis + t.value.const!.shape.length : t.outAxis);

/**
 * The prunable groups of `targets`, and the targets that cannot be pruned with the
 * reason: their group's reasons, prefixed by the layers coupled with them.
 */
export function channelGroups(model: Model, targets: readonly PruneTarget[]): { groups: TargetGroup[]; skipped: SkippedLayer[]; blocked: BlockedGroup[] } {
  if (model.format !== 'onnx') return { groups: [], skipped: targets.map((t) => ({ layer: t.layer, reason: 'channel pruning supports ONNX graphs only' })), blocked: [] };
  const graph = buildChannelGraph(model);
  const byGroup = new Map<ChannelGroup, { target: PruneTarget; port: number }[]>();
  const skipped: SkippedLayer[] = [];
  for (const t of targets) {
    const at = graph.find(t.value, outAxisOf(t));
    if (!at || !at.group.ports[at.port].out) {
      const why = t.node.graph !== model.graph
        ? `${t.node.describe()} is inside a subgraph (an If/Loop/Scan body): channel pruning traces the main graph only`
        : `the output channels of ${t.node.describe()} are not traced`;
      skipped.push({ layer: t.layer, reason: graph.untraced.get(t.node) ?? why });
      continue;
    }
    const list = byGroup.get(at.group) ?? [];
    list.push({ target: t, port: at.port });
    byGroup.set(at.group, list);
  }
  const groups: TargetGroup[] = [];
  const blocked: BlockedGroup[] = [];
  const wanted = new Set(targets.map((t) => t.value));
  for (const group of graph.groups) {
    const members = byGroup.get(group) ?? [];
    const reasons = [...group.reasons];
    for (const p of group.ports) if (p.out && !wanted.has(p.value)) reasons.push(`coupled with weight '${p.value.name}', which is not pruned (excluded, or not float32)`);
    if (!reasons.length && members.length) {
      groups.push({ group, members });
      continue;
    }
    if (!members.length) continue;
    const layers = members.map((m) => m.target.layer);
    blocked.push({ layers, channels: group.classes, reasons });
    for (const m of members) {
      const others = layers.filter((l) => l !== m.target.layer);
      skipped.push({ layer: m.target.layer, reason: (others.length ? `coupled with ${others.join(', ')}: ` : '') + reasons.join('; ') });
    }
  }
  // Report in graph order.
  const order = new Map(targets.map((t, i) => [t.layer, i]));
  skipped.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  return { groups, skipped, blocked };
}

/** The class of each output channel (index along the weight's out axis) of a group member. */
export function memberClasses(tg: TargetGroup, member: number): Int32Array {
  const { port } = tg.members[member];
  const l = tg.group.ports[port].layout;
  const cls = tg.group.classOf[port];
  const n = l.rep * l.units * l.block;
  return Int32Array.from({ length: n }, (_, i) => cls[Math.floor(i / l.block) % l.units]);
}

/** Group scores: per class, the sum of its members' channel scores (DepGraph's group importance). */
export function groupScores(tg: TargetGroup, memberScores: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(tg.group.classes);
  tg.members.forEach((_, i) => {
    const cls = memberClasses(tg, i);
    const s = memberScores[i];
    if (s.length !== cls.length) throw new Error(`layer '${tg.members[i].target.layer}': ${s.length} scores for ${cls.length} channels`);
    for (let c = 0; c < cls.length; c++) out[cls[c]] += s[c];
  });
  return out;
}

/**
 * Which classes may still go: no tensor of the group may lose all its channels (a
 * Concat input, a Split output, a member layer), or the graph would be invalid.
 */
export class ClassBudget {
  private readonly left: number[];
  private readonly perClass: [number, number][][];

  constructor(group: ChannelGroup) {
    this.left = group.classOf.map((c) => c.length);
    this.perClass = Array.from({ length: group.classes }, () => []);
    group.classOf.forEach((cls, port) => {
      const count = new Map<number, number>();
      for (const c of cls) count.set(c, (count.get(c) ?? 0) + 1);
      for (const [c, n] of count) this.perClass[c].push([port, n]);
    });
  }

  canRemove(c: number): boolean {
    return this.perClass[c].every(([p, n]) => this.left[p] > n);
  }

  remove(c: number): void {
    for (const [p, n] of this.perClass[c]) this.left[p] -= n;
  }
}

/**
 * The `want` lowest-scoring classes over all groups, group i giving up at most
 * `budget[i]` and keeping every tensor non-empty; ties go to the earlier group, then
 * the lower class. Returns each group's removed classes (ascending). With one group
 * this is the per-group selection.
 */
export function selectClasses(groups: readonly TargetGroup[], scores: readonly Float64Array[], want: number, budget: readonly number[]): Uint32Array[] {
  const total = scores.reduce((s, l) => s + l.length, 0);
  const all = new Float64Array(total);
  const groupOf = new Uint32Array(total);
  const classOf = new Uint32Array(total);
  let off = 0;
  scores.forEach((l, gi) => {
    all.set(l, off);
    for (let i = 0; i < l.length; i++) {
      groupOf[off + i] = gi;
      classOf[off + i] = i;
    }
    off += l.length;
  });
  const order = rankAscending(all);
  const limits = groups.map((g) => new ClassBudget(g.group));
  const picked: number[][] = groups.map(() => []);
  for (let k = 0; k < order.length && want > 0; k++) {
    const gi = groupOf[order[k]];
    const c = classOf[order[k]];
    if (picked[gi].length >= budget[gi] || !limits[gi].canRemove(c)) continue;
    limits[gi].remove(c);
    picked[gi].push(c);
    want--;
  }
  return picked.map((p) => Uint32Array.from(p).sort());
}

/**
 * Multiply-accumulates per sample of the Conv/Gemm/MatMul nodes: a Conv costs
 * (output pixels) x (weight size), a Gemm/MatMul with constant B its weight size.
 * `shapeOf` gives a value's shape (from a forward pass); undefined if a Conv's is unknown.
 */
export function countMacs(model: Model, shapeOf: (v: Value) => readonly (number | string | null)[] | undefined = (v) => v.shape): number | undefined {
  let total = 0;
  for (const n of model.graph.allNodes()) {
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
