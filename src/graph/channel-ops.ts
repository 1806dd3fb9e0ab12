/**
 * How each ONNX op maps channels, for the channel dependency graph (channel-deps.ts).
 *
 * In the manner of DepGraph (Fang et al., "DepGraph: Towards Any Structural Pruning",
 * CVPR 2023; the Torch-Pruning library): every op declares, for the tensors it reads
 * and writes, which channels of which tensor are the same channel. The builder walks
 * the graph in order, asks each node's entry, and unions the channels it links; a
 * group is then a set of tensors whose channels must be removed together.
 *
 * A tensor holds channels along one axis in the layout `ChannelLayout`: the axis has
 * rep * units * block entries, and unit u owns entries r*units*block + u*block + j
 * (r < rep, j < block). Plain NCHW channels are rep = block = 1; a depthwise Conv
 * with multiplier m gives block = m; Flatten of [N, C, H, W] gives block = H*W; a
 * Reshape of NHWC [N, H, W, C] to [N, H*W*C] gives rep = H*W.
 *
 * One entry per op family; adding an op is one entry here and one test.
 */
import type { Node, Tensor, Value } from '../ir';
import { constantOf, floatsOf, intsOf, norm, rankOf, shapeEntries, type ShapeEntry } from './channel-shapes';

export interface ChannelLayout {
  /** The axis that holds the channels (non-negative). */
  readonly axis: number;
  /** The tensor's rank. */
  readonly rank: number;
  readonly rep: number;
  readonly block: number;
  /** Prunable channels along the axis. */
  readonly units: number;
}

/**
 * One channel-carrying tensor seen by a node: a traced (non-constant) value, or a
 * constant sliced along `layout.axis`. `out` marks a weight's output-channel axis
 * (the slices a pruner scores).
 */
export interface Port {
  readonly value: Value;
  readonly layout: ChannelLayout;
  readonly out?: boolean;
}

/** Units [aStart, aStart + count) of port a are units [bStart, ...) of port b. */
export interface UnitLink {
  readonly a: Port;
  readonly aStart: number;
  readonly b: Port;
  readonly bStart: number;
  readonly count: number;
}

/**
 * An integer that counts channels of `port` (a Reshape shape entry, Split sizes, a
 * depthwise Conv's group): after pruning it becomes scale * (units kept in [start, start + count)).
 */
export interface DimEdit {
  /** Entry `index` of an int64/int32 constant, or an int attribute of a node (a depthwise Conv's group). */
  readonly value?: Value;
  readonly index?: number;
  readonly node?: Node;
  readonly attribute?: string;
  readonly port: Port;
  readonly start: number;
  readonly count: number;
  readonly scale: number;
}

export interface ChannelMapping {
  /** Layouts of the node's outputs (undefined: carries no traced channels). */
  outputs: (ChannelLayout | undefined)[];
  links: UnitLink[];
  dims?: DimEdit[];
  /** Why the channels of this node's traced tensors cannot be removed. */
  blocked?: string;
  /** Why this node's outputs carry no traced channels although it has a weight (a grouped Conv...). */
  untraced?: string;
}

/** Inputs' layouts (undefined for constants and for untraced values). */
export type Ins = readonly (ChannelLayout | undefined)[];
export type ChannelOp = (node: Node, ins: Ins) => ChannelMapping;

const full = (a: Port, b: Port): UnitLink => ({ a, aStart: 0, b, bStart: 0, count: a.layout.units });
const port = (value: Value, layout: ChannelLayout, out = false): Port => (out ? { value, layout, out } : { value, layout });
const none = (): ChannelMapping => ({ outputs: [], links: [] });
const blocked = (node: Node, ins: Ins, why: string): ChannelMapping => ({ outputs: ins.map(() => undefined), links: [], blocked: why });
const traced = (ins: Ins): ChannelLayout | undefined => ins.find((l) => l !== undefined);
const dim = (l: ChannelLayout): number => l.rep * l.units * l.block;
const withAxis = (l: ChannelLayout, axis: number, rank = l.rank): ChannelLayout => ({ ...l, axis, rank });

/** The traced input 0 passes to output 0 unchanged; other inputs must not carry traced channels. */
function passThrough(node: Node, ins: Ins, extra?: (l: ChannelLayout) => string | undefined): ChannelMapping {
  const l = ins[0];
  if (!l || ins.some((x, i) => i > 0 && x)) return blocked(node, ins, `${node.describe()} reads traced channels in a non-data input`);
  const why = extra?.(l);
  if (why) return blocked(node, ins, why);
  const outs = node.outputs.map(() => l);
  return { outputs: outs, links: node.outputs.map((o) => full(port(node.inputs[0]!, l), port(o, l))) };
}

/** Pooling and other ops that act on spatial axes 2.. of NC... data. */
function spatial(node: Node, ins: Ins): ChannelMapping {
  return passThrough(node, ins, (l) => (l.axis === 1 ? (node.outputs[1]?.uses.length ? `${node.describe()} returns indices` : undefined) : `${node.describe()} pools over axes 2.., but channels are on axis ${l.axis}`));
}

/** A per-channel constant operand: a port when it has one entry per channel, nothing when it broadcasts, else a reason. */
function constOperand(v: Value, l: ChannelLayout, outRank: number): Port | null | string {
  const c = constantOf(v)!;
  const s = c.shape;
  const ax = l.axis - (outRank - s.length);
  if (ax < 0 || s[ax] === 1) return null;
  if (s[ax] !== dim(l)) return `constant '${v.name}' has ${s[ax]} entries on the channel axis, not ${dim(l)}`;
  if (c.dtype === 'int4' || c.dtype === 'uint4') return `constant '${v.name}' is packed ${c.dtype}`;
  return port(v, { ...l, axis: ax, rank: s.length });
}

/**
 * Elementwise ops with broadcasting: every traced operand holds the same channels
 * as the output (a residual Add couples both branches); a constant with one entry
 * per channel is sliced; a constant or value of size 1 on that axis broadcasts.
 */
function elementwise(node: Node, ins: Ins): ChannelMapping {
  const ranks = node.inputs.map((v, i) => ins[i]?.rank ?? rankOf(v));
  const first = ins.findIndex((l) => l);
  if (first < 0) return none();
  if (ranks.some((r, i) => node.inputs[i] && r === undefined)) {
    const i = ranks.findIndex((r, k) => node.inputs[k] && r === undefined);
    return blocked(node, ins, `operand '${node.inputs[i]!.name}' of ${node.describe()} has an unknown rank (its channels are not traced)`);
  }
  const outRank = Math.max(...ranks.filter((r): r is number => r !== undefined));
  const base = ins[first]!;
  const l = withAxis(base, base.axis + (outRank - base.rank), outRank);
  const out = port(node.outputs[0], l);
  const links: UnitLink[] = [];
  for (let i = 0; i < node.inputs.length; i++) {
    const v = node.inputs[i];
    if (!v) continue;
    const li = ins[i];
    if (li) {
      if (li.axis + (outRank - li.rank) !== l.axis || li.rep !== l.rep || li.block !== l.block || li.units !== l.units) {
        return blocked(node, ins, `${node.describe()} combines operands with different channel layouts`);
      }
      links.push(full(port(v, li), out));
      continue;
    }
    if (constantOf(v)) {
      const p = constOperand(v, l, outRank);
      if (typeof p === 'string') return blocked(node, ins, `${node.describe()}: ${p}`);
      if (p) links.push(full(p, out));
      continue;
    }
    const s = v.shape;
    const ax = l.axis - (outRank - ranks[i]!);
    if (!(ax < 0 || s?.[ax] === 1)) return blocked(node, ins, `operand '${v.name}' of ${node.describe()} carries channels that are not traced`);
  }
  return { outputs: [l], links };
}

/** BatchNormalization / InstanceNormalization: per-channel constant parameters on axis 1. */
function norms(params: number[]): ChannelOp {
  return (node, ins) => {
    const l = ins[0];
    if (!l || l.axis !== 1) return blocked(node, ins, `${node.describe()} normalises axis 1, but channels are on axis ${l?.axis}`);
    if (node.attrInt('training_mode', 0)) return blocked(node, ins, `${node.describe()} is in training mode`);
    const out = port(node.outputs[0], l);
    const links = [full(port(node.inputs[0]!, l), out)];
    for (const i of params) {
      const v = node.inputs[i];
      const c = constantOf(v);
      if (!v || !c || c.shape.length !== 1 || c.shape[0] !== dim(l)) return blocked(node, ins, `${node.describe()} has non-constant or non-per-channel parameters`);
      links.push(full(port(v, { ...l, axis: 0, rank: 1 }), out));
    }
    return { outputs: [l], links };
  };
}

/** Conv (group 1, depthwise) and ConvTranspose (group 1). */
function conv(transpose: boolean): ChannelOp {
  return (node, ins) => {
    const W = node.inputs[1];
    const x = ins[0];
    const g = node.attrInt('group', 1);
    const Wc = constantOf(W);
    if (!W || !Wc) return x ? blocked(node, ins, `${node.describe()} has a non-constant weight`) : none();
    if (ins.some((l, i) => i > 0 && l)) return blocked(node, ins, `${node.describe()} reads traced channels as weight or bias`);
    const ws = Wc.shape;
    const rank = ws.length;
    const bias = node.inputs[2];
    if (bias && !constantOf(bias)) return blocked(node, ins, `${node.describe()} has a non-constant bias`);
    if (g === 1) {
      const inAxis = transpose ? 0 : 1;
      const outAxis = transpose ? 1 : 0;
      const links: UnitLink[] = [];
      if (x) {
        if (x.axis !== 1) return blocked(node, ins, `${node.describe()} convolves axis 1, but channels are on axis ${x.axis}`);
        if (ws[inAxis] !== dim(x)) return blocked(node, ins, `${node.describe()} expects ${ws[inAxis]} input channels, not ${dim(x)}`);
        links.push(full(port(W, { ...x, axis: inAxis, rank }), port(node.inputs[0]!, x)));
      }
      const o: ChannelLayout = { axis: 1, rank, rep: 1, block: 1, units: ws[outAxis] };
      const out = port(node.outputs[0], o);
      links.push(full(port(W, { ...o, axis: outAxis }, true), out));
      if (bias) links.push(full(port(bias, { ...o, axis: 0, rank: 1 }), out));
      return { outputs: [o], links };
    }
    // Depthwise (group = input channels, one input channel per group): output channel
    // k*m + j reads input channel k only, so input and output channels go together.
    if (!transpose && ws[1] === 1 && ws[0] % g === 0) {
      if (!x) return { outputs: [undefined], links: [], untraced: `depthwise ${node.describe()} reads channels that are not traced` };
      if (x.axis !== 1 || dim(x) !== g) return blocked(node, ins, `depthwise ${node.describe()} has group ${g} for ${dim(x)} channels`);
      const m = ws[0] / g;
      const o: ChannelLayout = { ...x, rank, block: x.block * m };
      const out = port(node.outputs[0], o);
      const links = [full(port(node.inputs[0]!, x), out), full(port(W, { ...o, axis: 0 }, true), out)];
      if (bias) links.push(full(port(bias, { ...o, axis: 0, rank: 1 }), out));
      const src = port(node.inputs[0]!, x);
      return { outputs: [o], links, dims: [{ node, attribute: 'group', port: src, start: 0, count: x.units, scale: x.rep * x.block }] };
    }
    // Grouped: input channel j of every group feeds the same filter slot, and every group
    // must keep as many channels as the others, so channel j of all groups goes together,
    // on the input side and on the output side (as Torch-Pruning prunes grouped convs).
    const cin = ws[1];
    const mg = ws[0] / g;
    if (transpose || !Number.isInteger(mg)) return x ? blocked(node, ins, `grouped ${node.describe()} (group ${g})`) : { outputs: [undefined], links: [], untraced: `grouped ${node.describe()} (group ${g})` };
    const links: UnitLink[] = [];
    if (x) {
      if (x.axis !== 1 || x.rep !== 1 || x.block !== 1 || x.units !== cin * g) return blocked(node, ins, `grouped ${node.describe()} (group ${g}) reads ${dim(x)} channels in blocks`);
      const wIn = port(W, { axis: 1, rank, rep: 1, block: 1, units: cin });
      for (let k = 0; k < g; k++) links.push({ a: wIn, aStart: 0, b: port(node.inputs[0]!, x), bStart: k * cin, count: cin });
    } else {
      return { outputs: [undefined], links: [], untraced: `grouped ${node.describe()} (group ${g}) reads channels that are not traced` };
    }
    const o: ChannelLayout = { axis: 1, rank, rep: 1, block: 1, units: ws[0] };
    const out = port(node.outputs[0], o);
    links.push(full(port(W, { ...o, axis: 0 }, true), out));
    if (bias) links.push(full(port(bias, { ...o, axis: 0, rank: 1 }), out));
    for (let k = 1; k < g; k++) links.push({ a: out, aStart: 0, b: out, bStart: k * mg, count: mg });
    return { outputs: [o], links };
  };
}

/** Gemm / MatMul with a constant 2-D B: reads channels on A's last axis, writes new ones. */
function matmul(node: Node, ins: Ins): ChannelMapping {
  const B = node.inputs[1];
  const a = ins[0];
  const gemm = node.opType === 'Gemm';
  const Bc = constantOf(B);
  if (!B || !Bc || Bc.shape.length !== 2) return a || ins[1] ? blocked(node, ins, `${node.describe()} has no constant 2-D weight`) : none();
  if (ins.some((l, i) => i > 0 && l)) return blocked(node, ins, `${node.describe()} reads traced channels as weight or bias`);
  if (gemm && node.attrInt('transA', 0)) return blocked(node, ins, `${node.describe()} uses transA`);
  const transB = gemm && node.attrInt('transB', 0) === 1;
  const links: UnitLink[] = [];
  const rank = gemm ? 2 : a?.rank ?? rankOf(node.inputs[0]);
  if (rank === undefined || rank < 2) return a ? blocked(node, ins, `${node.describe()}: input rank unknown`) : { outputs: [undefined], links: [], untraced: `${node.describe()}: input rank unknown` };
  if (a) {
    if (a.axis !== a.rank - 1) return blocked(node, ins, `${node.describe()} reduces the last axis, but channels are on axis ${a.axis}`);
    const k = transB ? 1 : 0;
    if (Bc.shape[k] !== dim(a)) return blocked(node, ins, `${node.describe()} expects ${Bc.shape[k]} inputs, not ${dim(a)}`);
    links.push(full(port(B, { ...a, axis: k, rank: 2 }), port(node.inputs[0]!, a)));
  }
  const n = transB ? 0 : 1;
  const o: ChannelLayout = { axis: rank - 1, rank, rep: 1, block: 1, units: Bc.shape[n] };
  const out = port(node.outputs[0], o);
  links.push(full(port(B, { ...o, axis: n, rank: 2 }, true), out));
  const C = gemm ? node.inputs[2] : null;
  if (C) {
    if (!constantOf(C)) return blocked(node, ins, `${node.describe()} has a non-constant bias`);
    const p = constOperand(C, o, rank);
    if (typeof p === 'string') return blocked(node, ins, `${node.describe()}: ${p}`);
    if (p) links.push(full(p, out));
  }
  return { outputs: [o], links };
}

function concat(node: Node, ins: Ins): ChannelMapping {
  const base = traced(ins)!;
  const axis = norm(node.attrInt('axis'), base.rank);
  if (axis !== base.axis) {
    // Concat along another axis: every operand holds the same channels.
    const out = port(node.outputs[0], base);
    const links: UnitLink[] = [];
    for (let i = 0; i < node.inputs.length; i++) {
      const v = node.inputs[i]!;
      const l = ins[i];
      if (l) {
        if (l.axis !== base.axis || l.rep !== base.rep || l.block !== base.block || l.units !== base.units) return blocked(node, ins, `${node.describe()} joins operands with different channel layouts`);
        links.push(full(port(v, l), out));
      } else if (constantOf(v)?.shape.length === base.rank && constantOf(v)!.shape[axis] === dim(base)) {
        links.push(full(port(v, base), out));
      } else {
        return blocked(node, ins, `${node.describe()} joins '${v.name}', whose channels are not traced`);
      }
    }
    return { outputs: [base], links };
  }
  // Along the channel axis: an offset map; output units = the inputs' units in order.
  if (ins.some((l) => !l)) {
    const i = ins.findIndex((l) => !l);
    return blocked(node, ins, `${node.describe()} concatenates channels of '${node.inputs[i]!.name}', which are not traced`);
  }
  if (ins.some((l) => l!.rep !== 1 || l!.block !== base.block)) return blocked(node, ins, `${node.describe()} concatenates channels of different block sizes`);
  const o: ChannelLayout = { ...base, units: ins.reduce((s, l) => s + l!.units, 0) };
  const out = port(node.outputs[0], o);
  let off = 0;
  const links = ins.map((l, i) => {
    const link: UnitLink = { a: port(node.inputs[i]!, l!), aStart: 0, b: out, bStart: off, count: l!.units };
    off += l!.units;
    return link;
  });
  return { outputs: [o], links };
}

function split(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0];
  if (!l || ins.some((x, i) => i > 0 && x)) return blocked(node, ins, `${node.describe()} reads traced channels as split sizes`);
  const axis = norm(node.attrInt('axis', 0), l.rank);
  if (axis !== l.axis) return { outputs: node.outputs.map(() => l), links: node.outputs.map((o) => full(port(node.inputs[0]!, l), port(o, l))) };
  const sizesValue = node.inputs[1];
  const sizes = sizesValue ? intsOf(sizesValue) : node.attributes.has('split') ? node.attrInts('split') : undefined;
  if (!sizes) return blocked(node, ins, `${node.describe()} splits channels into equal parts (pruning would make them unequal)`);
  if (l.rep !== 1 || sizes.some((s) => s % l.block !== 0)) return blocked(node, ins, `${node.describe()} splits inside a channel block`);
  if (!sizesValue) return blocked(node, ins, `${node.describe()} takes its split sizes from an attribute (opset < 13)`);
  const src = port(node.inputs[0]!, l);
  let off = 0;
  const outputs: ChannelLayout[] = [];
  const links: UnitLink[] = [];
  const dims: DimEdit[] = [];
  sizes.forEach((s, i) => {
    const o: ChannelLayout = { ...l, units: s / l.block };
    outputs.push(o);
    links.push({ a: src, aStart: off, b: port(node.outputs[i], o), bStart: 0, count: o.units });
    dims.push({ value: sizesValue, index: i, port: src, start: off, count: o.units, scale: l.block });
    off += o.units;
  });
  return { outputs, links, dims };
}

/**
 * Slice: other axes pass the channels through; a step-1 slice of the channel axis maps
 * units [start, end) of the input to the output, and its start/end constants are
 * rewritten to count the units kept before them.
 */
function slice(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0];
  if (!l || ins.some((x, i) => i > 0 && x)) return blocked(node, ins, `${node.describe()} reads traced channels in a non-data input`);
  const fromAttr = node.inputs.length < 3 && node.attributes.has('starts'); // Slice-1
  const starts = fromAttr ? node.attrInts('starts') : intsOf(node.inputs[1]);
  const ends = fromAttr ? node.attrInts('ends') : intsOf(node.inputs[2]);
  const axes = fromAttr ? (node.attributes.has('axes') ? node.attrInts('axes') : starts!.map((_, i) => i)) : node.inputs[3] ? intsOf(node.inputs[3]) : starts?.map((_, i) => i);
  const steps = node.inputs[4] ? intsOf(node.inputs[4]) : undefined;
  if (!starts || !ends || !axes || (node.inputs[4] && !steps)) return blocked(node, ins, `${node.describe()} has non-constant starts, ends, axes or steps`);
  const k = axes.findIndex((a) => norm(a, l.rank) === l.axis);
  const D = dim(l);
  const clamp = (x: number): number => Math.max(0, Math.min(D, x < 0 ? x + D : x));
  const [s0, e0] = k < 0 ? [0, D] : [clamp(starts[k]), clamp(ends[k])];
  if (k < 0 || (s0 === 0 && e0 === D && (!steps || steps[k] === 1))) return passThrough(node, ins);
  if (steps && steps[k] !== 1) return blocked(node, ins, `${node.describe()} slices the channel axis with step ${steps[k]}`);
  if (fromAttr) return blocked(node, ins, `${node.describe()} slices the channel axis with attribute starts/ends (opset < 10)`);
  if (l.rep !== 1 || s0 % l.block || e0 % l.block || e0 <= s0) return blocked(node, ins, `${node.describe()} slices inside a channel block`);
  const src = port(node.inputs[0]!, l);
  const o: ChannelLayout = { ...l, units: (e0 - s0) / l.block };
  const dims: DimEdit[] = [{ value: node.inputs[1]!, index: k, port: src, start: 0, count: s0 / l.block, scale: l.block }];
  if (ends[k] < D) dims.push({ value: node.inputs[2]!, index: k, port: src, start: 0, count: e0 / l.block, scale: l.block });
  return { outputs: [o], links: [{ a: src, aStart: s0 / l.block, b: port(node.outputs[0], o), bStart: 0, count: o.units }], dims };
}

function transpose(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0]!;
  const perm = node.attributes.has('perm') ? node.attrInts('perm') : [...Array(l.rank).keys()].reverse();
  const o = withAxis(l, perm.indexOf(l.axis), perm.length);
  return { outputs: [o], links: [full(port(node.inputs[0]!, l), port(node.outputs[0], o))] };
}

/** Unsqueeze/Squeeze: the channel axis moves by the axes inserted or removed before it. */
function squeeze(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0]!;
  const raw = node.inputs[1] ? intsOf(node.inputs[1]) : node.attributes.has('axes') ? node.attrInts('axes') : undefined;
  if (!raw) return blocked(node, ins, `${node.describe()} has no constant axes`);
  let axis = l.axis;
  let rank: number;
  if (node.opType === 'Unsqueeze') {
    rank = l.rank + raw.length;
    const axes = raw.map((a) => norm(a, rank)).sort((a, b) => a - b);
    for (const a of axes) if (a <= axis) axis++;
  } else {
    rank = l.rank - raw.length;
    const axes = raw.map((a) => norm(a, l.rank));
    if (axes.includes(l.axis)) return blocked(node, ins, `${node.describe()} removes the channel axis`);
    axis -= axes.filter((a) => a < l.axis).length;
  }
  const o = withAxis(l, axis, rank);
  return { outputs: [o], links: [full(port(node.inputs[0]!, l), port(node.outputs[0], o))] };
}

/** Reductions over other axes keep the channels; over the channel axis they mix them. */
function reduce(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0]!;
  const raw = node.inputs[1] ? intsOf(node.inputs[1]) : node.attributes.has('axes') ? node.attrInts('axes') : undefined;
  if (!raw) return blocked(node, ins, `${node.describe()} reduces over all axes, channels included`);
  const axes = raw.map((a) => norm(a, l.rank));
  if (axes.includes(l.axis)) return blocked(node, ins, `${node.describe()} reduces over the channel axis`);
  const keep = node.attrInt('keepdims', 1) === 1;
  const o = keep ? l : withAxis(l, l.axis - axes.filter((a) => a < l.axis).length, l.rank - axes.length);
  return { outputs: [o], links: [full(port(node.inputs[0]!, l), port(node.outputs[0], o))] };
}

/**
 * Merging axes [from, to) of the input into one output axis that holds the channels:
 * the axes before the channel axis multiply `rep`, those after it multiply `block`.
 * Unknown extents are solved from the merged size K when the channel axis is the
 * first or the last of the merged axes.
 */
function merged(l: ChannelLayout, dims: readonly (number | undefined)[], from: number, to: number, K: number | undefined): { rep: number; block: number; solved: boolean } | undefined {
  const prod = (a: number, b: number): number | undefined => {
    let p = 1;
    for (let i = a; i < b; i++) {
      if (dims[i] === undefined) return undefined;
      p *= dims[i]!;
    }
    return p;
  };
  let before = prod(from, l.axis);
  let after = prod(l.axis + 1, to);
  const solved = before === undefined || after === undefined;
  if (before === undefined && after !== undefined && K !== undefined) before = K / (dim(l) * after);
  if (after === undefined && before !== undefined && K !== undefined) after = K / (dim(l) * before);
  if (before === undefined || after === undefined || !Number.isInteger(before) || !Number.isInteger(after)) return undefined;
  if (K !== undefined && before * dim(l) * after !== K) return undefined;
  return { rep: l.rep * before, block: l.block * after, solved };
}

/** Static extents of a value (numbers where known), the channel axis filled in from its layout. */
function extents(v: Value, l: ChannelLayout): (number | undefined)[] {
  const s = v.shape;
  const out: (number | undefined)[] = [];
  for (let i = 0; i < l.rank; i++) out.push(s && s.length === l.rank && typeof s[i] === 'number' ? (s[i] as number) : undefined);
  // A global pool leaves every spatial axis at 1.
  const p = v.producer?.opType;
  if (p === 'GlobalAveragePool' || p === 'GlobalMaxPool' || p === 'GlobalLpPool') for (let i = 2; i < l.rank; i++) out[i] = 1;
  out[l.axis] = dim(l);
  return out;
}

/** Rows of the Gemm/MatMul that reads `v`, through per-element ops (all such readers must agree), for a flattened size. */
function readerRows(v: Value): number | undefined {
  let K: number | undefined;
  for (const { node, index } of v.uses) {
    if (CHANNEL_OPS[node.opType] === unary && index === 0) {
      const k = readerRows(node.outputs[0]);
      if (k === undefined || (K !== undefined && K !== k)) return undefined;
      K = k;
      continue;
    }
    const B = constantOf(node.inputs[1]);
    if (index !== 0 || (node.opType !== 'Gemm' && node.opType !== 'MatMul') || !B || B.shape.length !== 2) return undefined;
    const k = node.opType === 'Gemm' && node.attrInt('transB', 0) ? B.shape[1] : B.shape[0];
    if (K !== undefined && K !== k) return undefined;
    K = k;
  }
  return K;
}

function flatten(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0]!;
  const axis = norm(node.attrInt('axis', 1), l.rank);
  if (l.axis < axis) return blocked(node, ins, `${node.describe()} merges the channel axis into the leading dimension`);
  const m = merged(l, extents(node.inputs[0]!, l), axis, l.rank, readerRows(node.outputs[0]));
  if (!m) return blocked(node, ins, `cannot map channels through ${node.describe()} (unknown extents)`);
  const o: ChannelLayout = { axis: 1, rank: 2, units: l.units, rep: m.rep, block: m.block };
  return { outputs: [o], links: [full(port(node.inputs[0]!, l), port(node.outputs[0], o))] };
}

/**
 * Reshape. Two forms are followed: the axes up to and including the channel axis
 * kept (0 = copy, or the same known extent), so the channel index is unchanged
 * whatever happens after it; or the leading axes kept and all the others, the
 * channel axis among them, merged into one last axis (Flatten written as Reshape,
 * NCHW or NHWC). A shape entry that spells out a channel extent is rewritten after pruning.
 */
function reshape(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0]!;
  const shapeV = node.inputs[1];
  const entries = shapeV && !ins[1] ? shapeEntries(shapeV) : undefined;
  if (!shapeV || !entries || entries.some((e) => e === undefined)) return blocked(node, ins, `${node.describe()} has a shape mc cannot follow (not a constant, nor built from Shape and constants)`);
  if (node.attrInt('allowzero', 0)) return blocked(node, ins, `${node.describe()} uses allowzero`);
  const x = node.inputs[0]!;
  // A dim read from the input itself at the same position is a copy (0); a dim read from
  // elsewhere is only known to make the reshape valid, like -1 (when there is no other -1).
  const raw = entries as ShapeEntry[];
  const foreign = raw.filter((e) => e.dimOf && !(e.dimOf === x)).length + raw.filter((e) => e.value === -1).length;
  const shape = raw.map((e, i) => (e.dimOf ? (e.dimOf === x && e.axis === i ? 0 : foreign === 1 ? -1 : NaN) : e.value!));
  if (shape.some((v) => Number.isNaN(v))) return blocked(node, ins, `${node.describe()} has a shape mc cannot follow (dims read from other tensors)`);
  const d = extents(x, l);
  const src = port(x, l);
  const map = (o: ChannelLayout, index: number): ChannelMapping => {
    const e = raw[index];
    return {
      outputs: [o], links: [full(src, port(node.outputs[0], o))],
      dims: shape[index] > 0 && e.src ? [{ value: e.src.value, index: e.src.index, port: src, start: 0, count: l.units, scale: o.rep * o.block }] : [],
    };
  };
  // Leading axes kept: 0 (copy) or the same known extent; a leading -1 (the batch, inferred) only with one -1.
  const inferredBatch = shape[0] === -1 && shape.filter((v) => v === -1).length === 1;
  let p = 0;
  while (p < shape.length && p < l.rank && (shape[p] === 0 || (d[p] !== undefined && shape[p] === d[p]) || (p === 0 && inferredBatch))) p++;
  const batchExact = !inferredBatch || (() => {
    if (d.some((v) => v === undefined)) return false;
    const rest = shape.slice(1).reduce((a, v, i) => a * (v === 0 ? d[i + 1]! : v), 1);
    return d.reduce((a: number, v) => a * v!, 1) / rest === d[0];
  })();
  if (p > l.axis && l.axis < shape.length && batchExact) return map(withAxis(l, l.axis, shape.length), l.axis);
  const q = Math.min(p, l.axis); // leading axes kept before the channel axis
  if (shape.length === q + 1) {
    const K = shape[q] > 0 ? shape[q] : readerRows(node.outputs[0]);
    const m = merged(l, d, q, l.rank, K);
    // With an inferred batch, extents solved from K are right only when the channels are the
    // last merged axis (any multiple of the channel extent then keeps each channel's columns).
    const safe = m && (!(inferredBatch && q === 1 && m.solved) || l.axis === l.rank - 1);
    if (m && safe) return map({ axis: q, rank: shape.length, units: l.units, rep: m.rep, block: m.block }, q);
  }
  return blocked(node, ins, `cannot map channels through ${node.describe()} (shape ${JSON.stringify(shape)})`);
}

function resize(node: Node, ins: Ins): ChannelMapping {
  return passThrough(node, ins, (l) => {
    const scalesIdx = node.opType === 'Upsample' || node.inputs.length === 2 ? 1 : 2;
    const scalesV = node.inputs[scalesIdx];
    const sizesV = node.opType === 'Resize' ? node.inputs[3] : undefined;
    if (sizesV) {
      const sizes = intsOf(sizesV);
      return sizes ? `${node.describe()} gives output sizes, channels included` : `${node.describe()} has non-constant sizes`;
    }
    const scales = scalesV ? floatsOf(scalesV) : node.attributes.has('scales') ? [] : undefined;
    if (!scales) return `${node.describe()} has non-constant scales`;
    const s = scales.length ? scales : [];
    if (s.length && s[l.axis] !== 1) return `${node.describe()} scales the channel axis`;
    return undefined;
  });
}

function pad(node: Node, ins: Ins): ChannelMapping {
  return passThrough(node, ins, (l) => {
    if (node.inputs[3]) return `${node.describe()} has an axes input`;
    const pads = node.inputs[1] ? intsOf(node.inputs[1]) : node.attributes.has('pads') ? node.attrInts('pads') : undefined;
    if (!pads) return `${node.describe()} has non-constant pads`;
    if (pads[l.axis] !== 0 || pads[l.axis + l.rank] !== 0) return `${node.describe()} pads the channel axis`;
    if (node.inputs[2] && !constantOf(node.inputs[2])) return `${node.describe()} has a non-constant pad value`;
    return undefined;
  });
}

/** PRelu: a slope with one entry per channel is sliced with them. */
function prelu(node: Node, ins: Ins): ChannelMapping {
  return elementwise(node, ins);
}

/**
 * Softmax/LogSoftmax/Hardmax: the channels pass when they lie before the softmax axis
 * (before opset 13 the axes from `axis` on are flattened into one, from 13 on only
 * `axis` is used: both leave earlier axes alone). Over the channels it mixes them; the
 * output still holds them, so the group is followed (to a graph output, typically).
 */
function softmax(node: Node, ins: Ins): ChannelMapping {
  const l = ins[0]!;
  const axis = node.attributes.has('axis') ? norm(node.attrInt('axis'), l.rank) : undefined;
  const m = passThrough(node, ins);
  if (m.blocked || (axis !== undefined && l.axis < axis)) return m;
  return { ...m, blocked: `${node.describe()} normalises over the channel axis${axis === undefined ? ' (default axis)' : ''}` };
}

/** Shape reads only the extents, and whatever it feeds follows the pruned extents. */
const shapeOf: ChannelOp = (node) => ({ outputs: node.outputs.map(() => undefined), links: [] });

const unary = (node: Node, ins: Ins): ChannelMapping => passThrough(node, ins);

/** Ops that write new channels from a constant weight (asked even when no input carries traced channels). */
export const CHANNEL_WRITERS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

export const CHANNEL_OPS: Readonly<Record<string, ChannelOp>> = {
  // Activations and other per-element ops of one tensor.
  Relu: unary, LeakyRelu: unary, Sigmoid: unary, Tanh: unary, HardSigmoid: unary, HardSwish: unary, Elu: unary, Selu: unary, Celu: unary,
  Softplus: unary, Softsign: unary, Erf: unary, Gelu: unary, Mish: unary, ThresholdedRelu: unary, Exp: unary, Log: unary, Sqrt: unary,
  Abs: unary, Neg: unary, Reciprocal: unary, Floor: unary, Ceil: unary, Round: unary, Sin: unary, Cos: unary, Identity: unary, Dropout: unary,
  Clip: unary, Cast: unary,
  PRelu: prelu,
  // Binary elementwise (residual couplings, per-channel constants).
  Add: elementwise, Sub: elementwise, Mul: elementwise, Div: elementwise, Max: elementwise, Min: elementwise, Pow: elementwise, Sum: elementwise, Mean: elementwise,
  // Spatial ops on NC... data.
  MaxPool: spatial, AveragePool: spatial, LpPool: spatial, GlobalAveragePool: spatial, GlobalMaxPool: spatial, GlobalLpPool: spatial,
  Resize: resize, Upsample: resize, Pad: pad,
  BatchNormalization: norms([1, 2, 3, 4]), InstanceNormalization: norms([1, 2]),
  Conv: conv(false), ConvTranspose: conv(true), Gemm: matmul, MatMul: matmul,
  Concat: concat, Split: split, Slice: slice,
  Transpose: transpose, Reshape: reshape, Flatten: flatten, Squeeze: squeeze, Unsqueeze: squeeze,
  ReduceMean: reduce, ReduceSum: reduce, ReduceMax: reduce, ReduceMin: reduce, ReduceProd: reduce, ReduceL1: reduce, ReduceL2: reduce, ReduceSumSquare: reduce,
  Shape: shapeOf, Softmax: softmax, LogSoftmax: softmax, Hardmax: softmax,
};
