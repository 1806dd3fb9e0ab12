/**
 * First-layer rewrite for onnxruntime's int8 convolution, applied to the QDQ
 * graph after emission:
 *
 *   x → Q → DQ → Conv(C→M, k×k, same size) → [Relu] → Q → DQ → MaxPool(2×2, stride 2) → Q → DQ → …
 * becomes
 *   x → SpaceToDepth(2) → Q → DQ → Conv'(4C→4M) → [Relu] → Q → Split(4 × M) → Max → DQ → …
 *
 * Conv' computes, at each 2×2 block of the output, the four outputs of the
 * block as four groups of M channels (group u·2+v holds output pixel
 * (2i+u, 2j+v)), from the space-to-depth input whose channel (a·2+b)·C+c
 * holds x[c, 2i+a, 2j+b]. Its int8 weights are the original int8 weights
 * moved to new positions (zeros elsewhere), its per-channel scales and int32
 * bias are the originals repeated 4 times, so its int32 accumulators and its
 * requantized outputs are exactly those of the original Conv; the 2×2 max
 * pool is then the elementwise Max of the four groups, taken on the
 * quantized values (dequantization is monotonic). The rewritten model gives
 * bit-identical outputs (test/quantize-static/space-to-depth-pool.test.ts).
 *
 * Why: for a conv with few input channels (an image model's first layer),
 * MLAS's int8 kernel spends its time per output pixel, not per
 * multiply-add; the same outputs as 4M channels on a quarter of the pixels
 * ran 1.65× faster (fixture CNN conv1, 1→32 at 28×28: 0.45 ms → 0.27 ms at
 * batch 32), and the Q of the input works on the unpadded 4C channels. Split
 * and Max run on the integers (ORT has uint8/int8 kernels for both; the
 * transpose optimizer keeps them in NHWC).
 *
 * The Split/Max block runs on explicit integer tensors, which onnxruntime's
 * QDQS8ToU8Transformer (x86 without int8 fast paths) cannot convert from
 * int8 to uint8 the way it converts Q→DQ pairs; a Conv with a converted
 * input and an unconverted output is not fused. So when this rewrite applies
 * to an int8-activation model, storeActivationsAsUint8 (activations-uint8.ts)
 * first moves every activation to uint8 with zero point + 128: the same grid
 * and the same dequantized values.
 *
 * "Bit-identical" holds where onnxruntime's u8×s8 products accumulate in int32
 * (AVX512-VNNI, AVX-VNNI, AMX, arm64), not on AVX2 (nor AVX-512 without
 * VNNI): there MLAS's symmetric conv kernel broadcasts 4 consecutive input
 * channels and multiplies them with vpmaddubsw, which adds the products of
 * channels (0,1) and (2,3) in saturating int16 (x86_64/ConvSymKernelAvx2.S,
 * MultiplyAccumulateRowAvx2; weights packed 4 input channels per output
 * channel by MlasConvSymPackW, convsym.cpp). Conv' puts 2×2 neighbouring
 * pixels side by side as channels, so two bright pixels (u8 codes near 255)
 * times two same-sign weights near 127 pass 32767, where the plain Conv pairs
 * its one real channel with a zero-weight padding channel and cannot
 * saturate. On an AVX2-only EPYC this took the fixture CNN from 42.2 to
 * 25.3 dB (issue 10). No reordering of the 4C channels avoids it for a 3×3
 * kernel (both phases of a row, and of a column, are read at the centre tap),
 * and a zero channel beside each one doubles Conv''s multiply-adds, which
 * measured no faster than the plain form; so only `--target avx512-vnni` and
 * `arm64` apply the rewrite (targets.ts).
 */
import { Graph, intAttr, intsAttr, Node, Tensor, Value } from '../../../ir';
import { NameAllocator } from '../edits';
import { storeActivationsAsUint8 } from './activations-uint8';

/** Input channels up to which the rewrite pays (4C ≤ 16 input channels of Conv'). */
export const S2D_MAX_INPUT_CHANNELS = 4;
/**
 * Output channels up to which it pays. Conv(3×3, same) → Relu → MaxPool → Conv(→32) at batch 32,
 * 1 thread, rewritten / not rewritten: C1 M16 28² 0.72, C1 M32 28² 0.81, C3 M16 64² 0.83,
 * C3 M32 32² 0.96, C1 M64 28² 0.97, C3 M64 32² 1.22, C4 M64 32² 1.36 (`node bench/run.js static`,
 * section "space-to-depth rewrite by layer shape").
 */
export const S2D_MAX_OUTPUT_CHANNELS = 32;

export interface SpaceToDepthPooling {
  conv: string;
  pool: string;
  /** C → 4C input channels, M → 4M output channels, at H/2 × W/2. */
  inputChannels: number;
  outputChannels: number;
  /** Quantized tensors that now have another name: [old, new] (the input, the Conv/Relu output, the pooled output). */
  renamed: [string, string][];
}

/** A Conv → MaxPool(2×2) candidate that was left as it was, and why. */
export interface SpaceToDepthSkip {
  conv: string;
  reason: string;
}

export interface PoolingMatch {
  conv: Node;
  x: Value;
  pad?: Node;
  qIn: Node;
  wDq: Node;
  bDq?: Node;
  relu?: Node;
  qOut: Node;
  pool: Node;
  qPool: Node;
  c: number;
  m: number;
}

const isOp = (n: Node | null | undefined, op: string): n is Node => !!n && n.opType === op && (n.domain === '' || n.domain === 'ai.onnx');
const onlyUse = (v: Value): Node | undefined => (v.uses.length === 1 ? v.uses[0].node : undefined);

export interface PoolingLimits {
  maxInputChannels: number;
  maxOutputChannels: number;
}

const DEFAULT_LIMITS: PoolingLimits = { maxInputChannels: S2D_MAX_INPUT_CHANNELS, maxOutputChannels: S2D_MAX_OUTPUT_CHANNELS };

/** Conv → MaxPool(2×2) patterns of the QDQ graph that the rewrite can take, and the near misses with reasons. */
export function findPoolingMatches(graph: Graph, opset: number, limits: PoolingLimits = DEFAULT_LIMITS): { matches: PoolingMatch[]; skipped: SpaceToDepthSkip[] } {
  const matches: PoolingMatch[] = [];
  const skipped: SpaceToDepthSkip[] = [];
  for (const conv of graph.nodes) {
    if (!isOp(conv, 'Conv')) continue;
    const tail = poolTail(conv, graph);
    if (!tail) continue;
    const r = matchConv(conv, tail, graph, opset, limits);
    if (typeof r === 'string') skipped.push({ conv: conv.name, reason: r });
    else matches.push(r);
  }
  return { matches, skipped };
}

type Tail = Pick<PoolingMatch, 'relu' | 'qOut' | 'pool' | 'qPool'>;

/** Conv → [Relu] → Q → DQ → MaxPool → Q, each the only reader of the one before. */
function poolTail(conv: Node, graph: Graph): Tail | undefined {
  let next = onlyUse(conv.outputs[0]);
  let relu: Node | undefined;
  if (isOp(next, 'Relu')) { relu = next; next = onlyUse(next.outputs[0]); }
  if (!isOp(next, 'QuantizeLinear')) return undefined;
  const qOut = next;
  const dq = onlyUse(qOut.outputs[0]);
  if (!isOp(dq, 'DequantizeLinear')) return undefined;
  const pool = onlyUse(dq.outputs[0]);
  if (!isOp(pool, 'MaxPool') || pool.outputs.length !== 1) return undefined;
  const qPool = onlyUse(pool.outputs[0]);
  if (!isOp(qPool, 'QuantizeLinear')) return undefined;
  const outs = [conv.outputs[0], relu?.outputs[0], qOut.outputs[0], dq.outputs[0], pool.outputs[0], qPool.outputs[0]];
  if (outs.some((v) => v && graph.outputs.includes(v))) return undefined;
  return { relu, qOut, pool, qPool };
}

function matchConv(conv: Node, tail: Tail, graph: Graph, opset: number, limits: PoolingLimits): PoolingMatch | string {
  const { pool } = tail;
  if (opset < 13) return `needs opset 13 (Split's split input, Max on integers); the model has ${opset}`;
  if (pool.attrInts('kernel_shape', []).join() !== '2,2' || pool.attrInts('strides', [1, 1]).join() !== '2,2') return 'MaxPool is not 2×2 with stride 2';
  if (pool.attrInts('pads', [0, 0, 0, 0]).some((p) => p !== 0) || pool.attrInt('ceil_mode', 0) !== 0 || pool.attrInts('dilations', [1, 1]).some((d) => d !== 1)
    || pool.attrString('auto_pad', 'NOTSET') !== 'NOTSET' || pool.attrInt('storage_order', 0) !== 0) return 'MaxPool has pads, dilations, ceil_mode or storage_order';
  if (conv.attrInt('group', 1) !== 1 || conv.attrString('auto_pad', 'NOTSET') !== 'NOTSET') return 'Conv is grouped or uses auto_pad';
  if (conv.attrInts('strides', [1, 1]).some((s) => s !== 1) || conv.attrInts('dilations', [1, 1]).some((d) => d !== 1)) return 'Conv has strides or dilations';
  const wDq = conv.inputs[1]?.producer;
  const wq = wDq?.inputs[0]?.const;
  if (!isOp(wDq, 'DequantizeLinear') || !wq || wq.dtype !== 'int8' || wq.shape.length !== 4 || !wDq.inputs[1]?.const) return 'weight is not a constant int8 DequantizeLinear';
  if (wDq.inputs[2]?.const && [...wDq.inputs[2].const.typed()].some((z) => Number(z) !== 0)) return 'weight zero point is not 0';
  if (onlyUse(wDq.outputs[0]) !== conv) return 'weight is shared with another node';
  const [m, cw, kh, kw] = wq.shape;
  const pads = conv.attrInts('pads', [0, 0, 0, 0]);
  if (pads.length !== 4 || pads[0] + pads[2] !== kh - 1 || pads[1] + pads[3] !== kw - 1) return 'Conv does not keep the spatial size (pads ≠ kernel − 1)';
  const bDq = conv.inputs[2]?.producer ?? undefined;
  if (conv.inputs[2] && (!isOp(bDq, 'DequantizeLinear') || bDq.inputs[0]?.const?.dtype !== 'int32' || !bDq.inputs[1]?.const || onlyUse(bDq.outputs[0]) !== conv)) {
    return 'bias is not a constant int32 DequantizeLinear of its own';
  }
  const dqIn = conv.inputs[0]?.producer;
  const qIn = dqIn?.inputs[0]?.producer;
  if (!isOp(dqIn, 'DequantizeLinear') || !isOp(qIn, 'QuantizeLinear') || onlyUse(dqIn.outputs[0]) !== conv) return 'input is not a Q → DQ pair';
  let x = qIn.inputs[0]!;
  let pad: Node | undefined;
  let c = cw;
  if (isOp(x.producer, 'Pad') && isChannelPad(x.producer)) {
    pad = x.producer;
    x = pad.inputs[0]!;
    const cs = x.shape?.[1];
    if (typeof cs !== 'number') return 'channel count of the padded input is unknown';
    c = cs;
  }
  if (c > limits.maxInputChannels) return `more than ${limits.maxInputChannels} input channels`;
  if (m > limits.maxOutputChannels || m % 2 !== 0 || m < 4) return `output channels ${m} outside the measured range (even, 4…${limits.maxOutputChannels})`;
  const [, xc, h, w] = x.shape ?? [];
  if (x.shape?.length !== 4 || typeof h !== 'number' || typeof w !== 'number') return 'input height and width are not static';
  if (typeof xc === 'number' && xc !== c) return 'input channels do not match the weight';
  if (h % 2 !== 0 || w % 2 !== 0) return `input ${h}×${w} is not even`;
  if (!sameParams(tail.qOut, tail.qPool)) return 'MaxPool output is requantized with other parameters';
  return { conv, x, pad, qIn, wDq, bDq, ...tail, c, m };
}

/** Pad that only appends zeros to axis 1 of a 4-D tensor (pad-channels.ts). */
function isChannelPad(pad: Node): boolean {
  const pads = pad.inputs[1]?.const;
  if (!pads || pads.size !== 8 || pad.attrString('mode', 'constant') !== 'constant') return false;
  const value = pad.inputs[2]?.const;
  if (value && [...value.toFloat32()].some((v) => v !== 0)) return false;
  const p = [...pads.typed()].map(Number);
  return p.every((v, i) => (i === 5 ? v > 0 : v === 0));
}

function sameParams(a: Node, b: Node): boolean {
  const val = (n: Node, i: number): string => (n.inputs[i]?.const ? `${n.inputs[i]!.const!.dtype}:${[...n.inputs[i]!.const!.typed()].join()}` : 'none');
  return val(a, 1) === val(b, 1) && val(a, 2) === val(b, 2) && a.attrInt('axis', 1) === b.attrInt('axis', 1);
}

/** Applies one match (see the file comment); initializers it stopped reading are pushed to `released`. */
export function applyPoolingMatch(graph: Graph, mt: PoolingMatch, names: NameAllocator, released: (Value | null)[]): SpaceToDepthPooling {
  const { conv, x, c, m } = mt;
  const base = conv.name || 'conv';
  const wq = mt.wDq.inputs[0]!.const!;
  const [, cw, kh, kw] = wq.shape;
  const [pt, pl] = conv.attrInts('pads', [0, 0, 0, 0]);
  const rows = blockTaps(kh, pt);
  const cols = blockTaps(kw, pl);
  const [n, , h, w] = x.shape!;
  const hh = (h as number) / 2;
  const ww = (w as number) / 2;

  const s2d = new Value(names.fresh(`${x.name}_space_to_depth`), { dtype: 'float32', shape: [n, 4 * c, hh, ww] });
  graph.addNode(new Node({ opType: 'SpaceToDepth', name: names.fresh(`${base}_space_to_depth`), inputs: [x], outputs: [s2d], attributes: [intAttr('blocksize', 2)] }), conv);
  const [, sIn, zIn] = mt.qIn.inputs;
  const actType = mt.qOut.outputs[0].dtype ?? 'int8';
  const s2dQ = new Value(names.fresh(`${s2d.name}_quantized`), { dtype: actType, shape: [n, 4 * c, hh, ww] });
  graph.addNode(new Node({ opType: 'QuantizeLinear', name: names.fresh(`${s2d.name}_QuantizeLinear`), inputs: [s2d, sIn, zIn], outputs: [s2dQ] }), conv);
  const s2dD = new Value(names.fresh(`${s2d.name}_dequantized`), { dtype: 'float32', shape: [n, 4 * c, hh, ww] });
  graph.addNode(new Node({ opType: 'DequantizeLinear', name: names.fresh(`${s2d.name}_DequantizeLinear`), inputs: [s2dQ, sIn, zIn], outputs: [s2dD] }), conv);

  const w2 = blockWeights(wq.typed() as Int8Array, m, cw, c, kh, kw, rows, cols);
  const wName = names.fresh(`${mt.wDq.inputs[0]!.name}_space_to_depth`);
  const wv = graph.addInitializer(wName, Tensor.fromArray('int8', [4 * m, 4 * c, rows.size, cols.size], w2, wName));
  const wOut = new Value(names.fresh(`${wName}_dequantized`), { dtype: 'float32', shape: [4 * m, 4 * c, rows.size, cols.size] });
  graph.addNode(new Node({ opType: 'DequantizeLinear', name: names.fresh(`${wName}_DequantizeLinear`), inputs: [wv, repeat4(graph, mt.wDq.inputs[1]!, names)], outputs: [wOut], attributes: [intAttr('axis', 0)] }), conv);
  let bOut: Value | null = null;
  if (mt.bDq) {
    const bq = mt.bDq.inputs[0]!;
    bOut = new Value(names.fresh(`${bq.name}_space_to_depth_dequantized`), { dtype: 'float32', shape: [4 * m] });
    graph.addNode(new Node({ opType: 'DequantizeLinear', name: names.fresh(`${bq.name}_space_to_depth_DequantizeLinear`), inputs: [repeat4(graph, bq, names), repeat4(graph, mt.bDq.inputs[1]!, names)], outputs: [bOut], attributes: [intAttr('axis', 0)] }), conv);
  }
  const y = new Value(names.fresh(`${conv.outputs[0].name}_space_to_depth`), { dtype: 'float32', shape: [n, 4 * m, hh, ww] });
  const conv2 = new Node({
    opType: 'Conv', name: names.fresh(`${base}_space_to_depth`), inputs: bOut ? [s2dD, wOut, bOut] : [s2dD, wOut], outputs: [y],
    attributes: [intsAttr('kernel_shape', [rows.size, cols.size]), intsAttr('pads', [rows.before, cols.before, rows.after, cols.after])],
  });
  graph.addNode(conv2, conv);
  let act = y;
  if (mt.relu) {
    act = new Value(names.fresh(`${mt.relu.outputs[0].name}_space_to_depth`), { dtype: 'float32', shape: [n, 4 * m, hh, ww] });
    graph.addNode(new Node({ opType: 'Relu', name: names.fresh(`${mt.relu.name || 'relu'}_space_to_depth`), inputs: [y], outputs: [act] }), conv);
  }
  const [, sOut, zOut] = mt.qOut.inputs;
  const q = new Value(names.fresh(`${act.name}_quantized`), { dtype: actType, shape: [n, 4 * m, hh, ww] });
  graph.addNode(new Node({ opType: 'QuantizeLinear', name: names.fresh(`${act.name}_QuantizeLinear`), inputs: [act, sOut, zOut], outputs: [q] }), conv);
  const splitName = names.fresh(`${mt.pool.name || 'pool'}_split`);
  const sizes = graph.addInitializer(names.fresh(`${splitName}_sizes`), Tensor.fromArray('int64', [4], BigInt64Array.from([m, m, m, m].map(BigInt))));
  const parts = [0, 1, 2, 3].map((k) => new Value(names.fresh(`${splitName}_${k}`), { dtype: actType, shape: [n, m, hh, ww] }));
  graph.addNode(new Node({ opType: 'Split', name: splitName, inputs: [q, sizes], outputs: parts, attributes: [intAttr('axis', 1)] }), conv);
  const pooled = new Value(names.fresh(`${mt.pool.outputs[0].name}_max`), { dtype: actType, shape: [n, m, hh, ww] });
  graph.addNode(new Node({ opType: 'Max', name: names.fresh(`${mt.pool.name || 'pool'}_max`), inputs: parts, outputs: [pooled] }), conv);

  // The pooled integers replace the old Q after MaxPool; then the old chain has no readers left.
  mt.qPool.outputs[0].replaceAllUsesWith(pooled);
  const renamed: [string, string][] = [[mt.qIn.inputs[0]!.name, s2d.name], [mt.qOut.inputs[0]!.name, act.name], [mt.qPool.inputs[0]!.name, pooled.name]];
  const dead = [mt.qPool, mt.pool, mt.pool.inputs[0]!.producer!, mt.qOut, ...(mt.relu ? [mt.relu] : []), conv, mt.wDq, ...(mt.bDq ? [mt.bDq] : [])];
  released.push(...dead.flatMap((d) => d.inputs), ...(mt.pad ? mt.pad.inputs : []));
  for (const d of dead) graph.removeNode(d, true);
  for (const u of [...mt.qIn.outputs[0].uses]) {
    const d = u.node;
    if (isOp(d, 'DequantizeLinear') && d.outputs[0].uses.length === 0 && !graph.outputs.includes(d.outputs[0])) graph.removeNode(d, true);
  }
  if (mt.qIn.outputs[0].uses.length === 0) graph.removeNode(mt.qIn, true);
  if (mt.pad && mt.pad.outputs[0].uses.length === 0) graph.removeNode(mt.pad, true);
  return { conv: conv.name, pool: mt.pool.name, inputChannels: c, outputChannels: m, renamed };
}

interface BlockTaps {
  /** Kernel size of Conv' along this axis, and its pads. */
  size: number;
  before: number;
  after: number;
  /** Lowest block offset (−before). */
  min: number;
  /** The original Conv's leading pad on this axis. */
  pad: number;
}

/**
 * Along one axis: output 2i+u reads input 2i+u+t−p for tap t; that input is
 * block i+d, phase a with d = ⌊(u+t−p)/2⌋, a = (u+t−p) mod 2.
 */
function blockTaps(k: number, p: number): BlockTaps {
  const min = Math.floor(-p / 2);
  const max = Math.floor((k - p) / 2);
  return { size: max - min + 1, before: -min, after: max, min, pad: p };
}

/** W'[(u·2+v)·M+o, (a·2+b)·C+c, dy−min, dx−min] = W[o, c, ty, tx]; C' ≥ C when the input was zero-padded (those channels are zero). */
function blockWeights(wq: Int8Array, m: number, cw: number, c: number, kh: number, kw: number, rows: BlockTaps, cols: BlockTaps): Int8Array {
  const c4 = 4 * c;
  const out = new Int8Array(4 * m * c4 * rows.size * cols.size);
  for (let u = 0; u < 2; u++) {
    for (let v = 0; v < 2; v++) {
      for (let o = 0; o < m; o++) {
        const oc = (u * 2 + v) * m + o;
        for (let ci = 0; ci < c; ci++) {
          for (let ty = 0; ty < kh; ty++) {
            const r = u + ty - rows.pad;
            const dy = Math.floor(r / 2);
            const a = r - 2 * dy;
            for (let tx = 0; tx < kw; tx++) {
              const s = v + tx - cols.pad;
              const dx = Math.floor(s / 2);
              const b = s - 2 * dx;
              const ic = (a * 2 + b) * c + ci;
              out[((oc * c4 + ic) * rows.size + (dy - rows.min)) * cols.size + (dx - cols.min)] = wq[((o * cw + ci) * kh + ty) * kw + tx];
            }
          }
        }
      }
    }
  }
  return out;
}

/** A per-channel vector repeated 4 times (a scalar stays as it is). */
function repeat4(graph: Graph, v: Value, names: NameAllocator): Value {
  const t = v.const!;
  if (t.size === 1) return v;
  const src = t.typed();
  const Ctor = src.constructor as new (n: number) => typeof src;
  const out = new Ctor(src.length * 4);
  for (let k = 0; k < 4; k++) (out as unknown as { set(a: ArrayLike<number | bigint>, o: number): void }).set(src as ArrayLike<number>, k * src.length);
  const name = names.fresh(`${v.name}_x4`);
  return graph.addInitializer(name, Tensor.fromArray(t.dtype, [src.length * 4], out, name));
}

export interface PoolingRewrite {
  applied: SpaceToDepthPooling[];
  skipped: SpaceToDepthSkip[];
  /** True when int8 activations were moved to uint8 storage first (activations-uint8.ts). */
  storedAsUint8: boolean;
  /** Initializers that lost readers. */
  released: Value[];
}

/** Finds and applies every match; an int8-activation graph moves to uint8 storage first (see the file comment). */
export interface PoolingRewriteOptions {
  limits?: PoolingLimits;
}

export function rewriteSpaceToDepthPooling(graph: Graph, opset: number, names: NameAllocator, o: PoolingRewriteOptions = {}): PoolingRewrite {
  const { matches, skipped } = findPoolingMatches(graph, opset, o.limits ?? DEFAULT_LIMITS);
  const released: (Value | null)[] = [];
  const storedAsUint8 = matches.some((mt) => mt.qOut.inputs[2]?.const?.dtype === 'int8');
  if (storedAsUint8) released.push(...storeActivationsAsUint8(graph, names));
  const applied = matches.map((mt) => applyPoolingMatch(graph, mt, names, released));
  return { applied, skipped, storedAsUint8, released: [...new Set(released.filter((v): v is Value => v !== null && v.isConstant))] };
}
