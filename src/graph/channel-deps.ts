/**
 * The channel dependency graph (DepGraph: Fang et al., "DepGraph: Towards Any
 * Structural Pruning", CVPR 2023; the Torch-Pruning library).
 *
 * Walking the nodes in order, each op's entry in CHANNEL_OPS (channel-ops.ts) says
 * which channels of the tensors it touches are the same channel. Every channel of
 * every such tensor (a traced value, or a constant sliced along one axis) is an
 * element of a union-find; the op's links union them. Then:
 *  - a *class* is one equivalence class of channels: removing one channel removes
 *    its whole class (a residual Add's two branches, a depthwise Conv's input and
 *    output, a concat's slice and the producer of it...);
 *  - a *group* is a connected set of tensors; its classes are what a pruner ranks.
 * A group whose channels reach a graph output, come from something untraced, or
 * feed an op that mixes channels is blocked, with the reasons.
 */
import { intAttr, type Model, type Node, nodeReads, Tensor, type Value } from '../ir';
import { constantOf } from './channel-shapes';
import { CHANNEL_OPS, CHANNEL_WRITERS, type ChannelLayout, type ChannelMapping, type DimEdit, type Port } from './channel-ops';

export type { ChannelLayout, Port } from './channel-ops';

/** A tensor's channels in the graph: its port and the id of its first unit. */
interface PortRec {
  port: Port;
  readonly base: number;
  readonly index: number;
}

export interface ChannelGroup {
  /** Every tensor whose channels this group removes (traced values and sliced constants). */
  readonly ports: readonly Port[];
  /** Prunable channels (equivalence classes). */
  readonly classes: number;
  /** Per port (same order), the class of each of its units. */
  readonly classOf: readonly Int32Array[];
  /** Integer constants that count channels of this group (Reshape shapes, Split sizes). */
  readonly dims: readonly DimEdit[];
  /** Why this group cannot be pruned (empty: prunable). */
  readonly reasons: readonly string[];
}

export interface ChannelGraph {
  readonly groups: readonly ChannelGroup[];
  /** The group that slices weight `value` along `axis`, and where its port sits in it. */
  find(value: Value, axis: number): { group: ChannelGroup; port: number } | undefined;
  /** Why a node that has a weight writes no traced channels (grouped Conv, ...). */
  readonly untraced: ReadonlyMap<Node, string>;
}

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]];
      x = p[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** Ops that rearrange values without computing new ones. */
const MOVES_DATA: ReadonlySet<string> = new Set(['Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity', 'Slice', 'Split', 'Concat']);

const sameLayout = (a: ChannelLayout, b: ChannelLayout): boolean =>
  a.axis === b.axis && a.rank === b.rank && a.rep === b.rep && a.block === b.block && a.units === b.units;

/** Builds the channel dependency graph of an ONNX model's main graph. */
export function buildChannelGraph(model: Model, ops: Readonly<Record<string, (node: Node, ins: readonly (ChannelLayout | undefined)[]) => ChannelMapping>> = CHANNEL_OPS): ChannelGraph {
  const g = model.graph;
  const layouts = new Map<Value, ChannelLayout>();
  /** Ports by value; a constant may have one per axis, a traced value one. */
  const ports = new Map<Value, Map<number, PortRec>>();
  const recs: PortRec[] = [];
  const reasons = new Map<number, string[]>();
  const readersOf = new Map<Value, Set<Node>>();
  const links: { a: PortRec; aStart: number; b: PortRec; bStart: number; count: number }[] = [];
  const dims: { edit: DimEdit; rec: PortRec }[] = [];
  const untraced = new Map<Node, string>();
  let units = 0;

  const note = (r: PortRec, why: string): void => {
    const list = reasons.get(r.index) ?? [];
    if (!list.includes(why)) list.push(why);
    reasons.set(r.index, list);
  };
  const recOf = (p: Port, reader?: Node): PortRec => {
    const byAxis = ports.get(p.value) ?? new Map<number, PortRec>();
    ports.set(p.value, byAxis);
    if (reader && constantOf(p.value)) {
      const s = readersOf.get(p.value) ?? new Set<Node>();
      s.add(reader);
      readersOf.set(p.value, s);
    }
    const key = constantOf(p.value) ? p.layout.axis : 0;
    const had = byAxis.get(key);
    if (had) {
      if (!sameLayout(had.port.layout, p.layout)) note(had, `'${p.value.name}' is read with two different channel layouts`);
      if (p.out && !had.port.out) had.port = p;
      return had;
    }
    const rec: PortRec = { port: p, base: units, index: recs.length };
    units += p.layout.units;
    recs.push(rec);
    byAxis.set(key, rec);
    return rec;
  };

  for (const node of g.nodes) {
    // Channels read inside a subgraph (an If branch, a Loop body, as an outer-scope value) are not followed there.
    for (const v of new Set(nodeReads(node))) {
      const l = node.inputs.includes(v) ? undefined : layouts.get(v);
      if (l) note(recOf({ value: v, layout: l }), `'${v.name}' is read inside a subgraph of ${node.describe()}, where channels are not traced`);
    }
    const ins = node.inputs.map((v) => (v ? layouts.get(v) : undefined));
    const op = node.domain === '' || node.domain === 'ai.onnx' ? ops[node.opType] : undefined;
    let m: ChannelMapping;
    if (!op) {
      if (!ins.some((l) => l)) continue;
      m = { outputs: [], links: [], blocked: `channels feed ${node.describe()} (${node.domain ? `${node.domain}.` : ''}${node.opType} is not traced)` };
    } else {
      if (!ins.some((l) => l) && !CHANNEL_WRITERS.has(node.opType)) continue;
      m = op(node, ins);
    }
    if (m.untraced) untraced.set(node, m.untraced);
    const touched: PortRec[] = [];
    node.inputs.forEach((v, i) => {
      if (v && ins[i]) touched.push(recOf({ value: v, layout: ins[i]! }));
    });
    for (const k of m.links) {
      const a = recOf(k.a, node);
      const b = recOf(k.b, node);
      touched.push(a, b);
      links.push({ a, aStart: k.aStart, b, bStart: k.bStart, count: k.count });
    }
    for (const d of m.dims ?? []) {
      const rec = recOf(d.port);
      dims.push({ edit: d, rec });
      if (!d.value) continue;
      const s = readersOf.get(d.value) ?? new Set<Node>();
      s.add(node);
      // A constant that reaches this node through a chain (Cast, Concat...) must feed nothing else.
      if (!node.inputs.includes(d.value)) {
        if (feedsOnly(d.value, node)) for (const u of d.value.uses) s.add(u.node);
        else note(rec, `shape constant '${d.value.name}' feeds more than ${node.describe()}`);
      }
      readersOf.set(d.value, s);
    }
    // A blocking op may still say where its outputs hold the channels (a Softmax over them):
    // following them finds whether the group would reach a graph output anyway.
    node.outputs.forEach((o, i) => {
      const l = m.outputs[i];
      if (!l) return;
      layouts.set(o, l);
      const r = recOf({ value: o, layout: l });
      touched.push(r);
      if (g.outputs.includes(o)) note(r, `its channels reach graph output '${o.name}'`);
    });
    if (m.blocked) {
      for (const r of touched) note(r, m.blocked);
      // An op that only moves data (a Reshape mc cannot follow) into a graph output: the channels are the model's output too.
      const out = node.outputs.find((o) => g.outputs.includes(o));
      if (out && MOVES_DATA.has(node.opType)) for (const r of touched) note(r, `its channels reach graph output '${out.name}'`);
    }
  }

  // Constants sliced by some readers must not be read by others (shared weights stay consistent).
  for (const [v, byAxis] of ports) {
    if (!constantOf(v)) continue;
    const readers = readersOf.get(v) ?? new Set<Node>();
    const other = v.uses.find((u) => !readers.has(u.node));
    if (other) for (const r of byAxis.values()) note(r, `constant '${v.name}' is also read by ${other.node.describe()}`);
    if (g.outputs.includes(v)) for (const r of byAxis.values()) note(r, `constant '${v.name}' is a graph output`);
  }
  for (const { edit, rec } of dims) {
    const v = edit.value;
    if (!v) continue;
    if (!constantOf(v)) {
      note(rec, `'${v.name}' is not a constant`);
      continue;
    }
    const other = v.uses.find((u) => !(readersOf.get(v)?.has(u.node)));
    if (other) note(rec, `shape constant '${v.name}' is also read by ${other.node.describe()}`);
  }

  // Unit classes, and port components.
  const uf = new UnionFind(units);
  const pf = new UnionFind(recs.length);
  for (const k of links) {
    if (k.aStart + k.count > k.a.port.layout.units || k.bStart + k.count > k.b.port.layout.units) {
      note(k.a, `channel map out of range between '${k.a.port.value.name}' and '${k.b.port.value.name}'`);
      note(k.b, `channel map out of range between '${k.a.port.value.name}' and '${k.b.port.value.name}'`);
    } else {
      for (let i = 0; i < k.count; i++) uf.union(k.a.base + k.aStart + i, k.b.base + k.bStart + i);
    }
    pf.union(k.a.index, k.b.index);
  }
  // Two groups that count into the same integer constant are one group.
  const dimOwner = new Map<Value, PortRec>();
  for (const { rec, edit } of dims) {
    if (!edit.value) continue;
    const first = dimOwner.get(edit.value);
    if (first) pf.union(first.index, rec.index);
    else dimOwner.set(edit.value, rec);
  }
  const members = new Map<number, PortRec[]>();
  for (const r of recs) {
    const root = pf.find(r.index);
    const list = members.get(root) ?? [];
    list.push(r);
    members.set(root, list);
  }
  const groups: ChannelGroup[] = [];
  const where = new Map<PortRec, { group: ChannelGroup; port: number }>();
  for (const list of members.values()) {
    // Number the classes by the weights' output channels first (so a plain layer's classes are its filters in order).
    const ordered = [...list.filter((r) => r.port.out), ...list.filter((r) => !r.port.out)];
    const cls = new Map<number, number>();
    const classOf = ordered.map((r) => Int32Array.from({ length: r.port.layout.units }, (_, u) => {
      const root = uf.find(r.base + u);
      if (!cls.has(root)) cls.set(root, cls.size);
      return cls.get(root)!;
    }));
    const why: string[] = [];
    for (const r of ordered) for (const w of reasons.get(r.index) ?? []) if (!why.includes(w)) why.push(w);
    if (!ordered.some((r) => r.port.out)) why.push('no layer writes these channels');
    const groupDims = dims.filter((d) => ordered.includes(d.rec)).map((d) => d.edit);
    const group: ChannelGroup = { ports: ordered.map((r) => r.port), classes: cls.size, classOf, dims: groupDims, reasons: why };
    groups.push(group);
    ordered.forEach((r, i) => where.set(r, { group, port: i }));
  }
  return {
    groups,
    untraced,
    find: (value, axis) => {
      const r = ports.get(value)?.get(axis);
      return r ? where.get(r) : undefined;
    },
  };
}

/** Whether every path from `v` leads to `target` through single-use values (at most 8 steps). */
function feedsOnly(v: Value, target: Node): boolean {
  for (let step = 0; step < 8; step++) {
    if (v.uses.length !== 1) return false;
    const n = v.uses[0].node;
    if (n === target) return true;
    if (n.outputs.length !== 1) return false;
    v = n.outputs[0];
  }
  return false;
}

/** The units of a group's port whose class is kept. */
function keptUnits(group: ChannelGroup, port: number, removed: ReadonlySet<number>): number[] {
  const keep: number[] = [];
  group.classOf[port].forEach((c, u) => {
    if (!removed.has(c)) keep.push(u);
  });
  return keep;
}

/**
 * Removes classes `removed` of a prunable group: slices every constant port, rewrites
 * the recorded shapes of traced values and the integer constants that count channels.
 */
export function pruneGroup(group: ChannelGroup, removed: readonly number[]): void {
  if (group.reasons.length) throw new Error(`channel group is not prunable: ${group.reasons.join('; ')}`);
  if (removed.length === 0) return;
  const drop = new Set(removed);
  // Integer constants first: they count the kept units of ports as they are now.
  const newDims = group.dims.map((d) => {
    const i = group.ports.indexOf(d.port);
    const keep = keptUnits(group, i >= 0 ? i : group.ports.findIndex((p) => p.value === d.port.value), drop);
    return { d, n: d.scale * keep.filter((u) => u >= d.start && u < d.start + d.count).length };
  });
  for (const { d, n } of newDims) {
    if (d.node) {
      d.node.setAttribute(intAttr(d.attribute!, n));
      continue;
    }
    const t = constantOf(d.value)!;
    const a = Array.from(t.typed() as ArrayLike<number | bigint>, (x) => BigInt(x));
    a[d.index!] = BigInt(n);
    const out = t.dtype === 'int64' ? BigInt64Array.from(a) : Int32Array.from(a, Number);
    writeConstant(d.value!, t, [...t.shape], new Uint8Array(out.buffer));
  }
  group.ports.forEach((p, i) => {
    const keep = keptUnits(group, i, drop);
    const l = p.layout;
    const t = constantOf(p.value);
    if (t) {
      const sliced = takeUnits(t, l, keep);
      writeConstant(p.value, t, sliced.shape, sliced.bytes);
    } else {
      const shape = p.value.shape;
      if (shape && shape.length === l.rank && typeof shape[l.axis] === 'number') shape[l.axis] = l.rep * keep.length * l.block;
    }
  });
}

/** New contents for a constant: an initializer's tensor, or a Constant node's `value` (other value_* forms replaced). */
function writeConstant(v: Value, t: Tensor, shape: number[], bytes: Uint8Array): void {
  if (v.const) {
    t.setData(t.dtype, shape, { kind: 'bytes', bytes });
  } else {
    const node = v.producer!;
    for (const k of [...node.attributes.keys()]) if (k.startsWith('value') || k === 'sparse_value') node.attributes.delete(k);
    node.setAttribute({ name: 'value', type: 'tensor', value: Tensor.fromBytes(t.dtype, shape, bytes, t.name) });
  }
  if (v.shape) v.shape = [...shape];
}

/** Copies units `keep` of a constant along its layout's axis. */
export function takeUnits(t: Tensor, l: ChannelLayout, keep: readonly number[]): { shape: number[]; bytes: Uint8Array } {
  const shape = t.shape;
  if (shape[l.axis] !== l.rep * l.units * l.block) throw new Error(`tensor '${t.name}': axis ${l.axis} has ${shape[l.axis]} entries, expected ${l.rep}x${l.units}x${l.block}`);
  const elem = t.byteLength / Math.max(1, t.size);
  const outer = shape.slice(0, l.axis).reduce((p, d) => p * d, 1) * l.rep;
  const inner = shape.slice(l.axis + 1).reduce((p, d) => p * d, 1) * elem * l.block;
  const src = t.bytes();
  const newShape = [...shape];
  newShape[l.axis] = l.rep * keep.length * l.block;
  const out = new Uint8Array(outer * keep.length * inner);
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (const u of keep) {
      const start = (o * l.units + u) * inner;
      out.set(src.subarray(start, start + inner), w);
      w += inner;
    }
  }
  return { shape: newShape, bytes: out };
}
