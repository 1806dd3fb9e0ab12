/**
 * Pads the input channels of a 2-D Conv to a multiple of 4 with zeros:
 *   Conv(x, W[M, C, kh, kw]) = Conv(Pad(x, channels C → C'), W'[M, C', kh, kw])
 * where W' holds W in its first C input channels and zeros after, so every
 * added product is 0·0 and the output is exactly the same.
 *
 * Why: onnxruntime's fast int8 convolution (MLAS's symmetric "ConvSym"
 * kernels, MlasConvSymPackWSize in onnxruntime/core/mlas/lib/convsym.cpp)
 * only takes group-1 convolutions whose input channel count is a multiple of
 * 4 (VNNI multiplies 4 bytes per lane); any other QLinearConv goes through
 * im2col + a generic int8 GEMM with K = C·kh·kw. For the first layer of an
 * image model (C = 1 or 3) that fallback ran the fixture CNN's 1-channel conv
 * 4.6× slower than float32 (0.80 ms vs 0.17 ms at batch 32); padded to 4
 * channels it takes 0.46 ms. Only static quantization uses this, and only
 * for a Conv that will be quantized.
 *
 * Pad (opset 11+, onnx.ai/onnx/operators/onnx__Pad.html) takes `pads` as an
 * int64 input [x1_begin, x2_begin, ..., x1_end, x2_end, ...].
 *
 * Pair-safe padding (`--target portable`/`avx2`, for the first convolutions,
 * which read the model's input): channel c goes to 2c and a zero channel
 * follows each one. On AVX2 (and AVX-512 without VNNI) MLAS multiplies u8
 * activations by s8 weights with vpmaddubsw, which adds the products of
 * input channels (2k, 2k+1) in saturating int16 — the symmetric conv kernel
 * packs 4 consecutive input channels per output channel (convsym.cpp,
 * MlasConvSymPackW; x86_64/ConvSymKernelAvx2.S), and QLinearConv's im2col
 * path orders K as (kh, kw, c) (qlinearconv.cc, Im2col NHWC), so with an even
 * channel count the pairs are again channel pairs. With one non-zero weight
 * per pair, |a·w| ≤ 255·128 = 32640 < 32767: nothing saturates. A model's
 * input is where it matters: image codes cover 0…255 densely (ReLU-fed layers
 * are mostly small codes; issue 10 measured the fixture CNN's plain form at
 * 42.2 dB on an AVX2-only EPYC), and an RGB input padded as [r, g, b, 0]
 * pairs r with g. The cost is twice the first layer's input channels.
 * The interleaving is Pad (one zero channel at the end) → Gather on axis 1
 * with indices [0, C, 1, C, …]: no shape needs to be known.
 */
import { Graph, intAttr, Model, Node, Tensor, Value } from '../../../ir';
import { NameAllocator } from '../edits';

export interface ChannelPadding {
  node: string;
  from: number;
  to: number;
  /** Channels interleaved with zero channels (pair-safe) rather than zeros appended. */
  pairSafe?: boolean;
}

/** The multiple MLAS's symmetric int8 conv kernels need on x86 and ARM64. */
export const CONV_CHANNEL_MULTIPLE = 4;

/**
 * True when `n` is a group-1 2-D Conv with a constant float32 weight whose input channels are not a multiple of 4
 * (or, `pairSafe`, also when two real input channels would share an int16 pair: more than one channel).
 */
export function needsChannelPadding(n: Node, pairSafe = false): boolean {
  if (n.opType !== 'Conv' || (n.domain !== '' && n.domain !== 'ai.onnx') || n.attrInt('group', 1) !== 1) return false;
  const w = n.inputs[1];
  const x = n.inputs[0];
  if (!x || x.isConstant || !w?.const || w.const.dtype !== 'float32' || w.const.shape.length !== 4) return false;
  const c = w.const.shape[1];
  return c % CONV_CHANNEL_MULTIPLE !== 0 || (pairSafe && c > 1);
}

/** Ops between a model input and its first convolution that do no multiply-adds over channels (layout, casts, normalisation). */
const PASS_THROUGH = new Set(['Transpose', 'Reshape', 'Identity', 'Cast', 'Sub', 'Add', 'Mul', 'Div', 'Resize', 'Pad', 'Slice', 'Squeeze', 'Unsqueeze', 'Clip']);

/** True when the Conv's input comes from a graph input through PASS_THROUGH ops only: a first layer, fed dense 0…255 codes. */
export function readsModelInput(graph: Graph, conv: Node): boolean {
  let v: Value | null | undefined = conv.inputs[0];
  for (let depth = 0; v && depth < 16; depth++) {
    if (graph.inputs.includes(v)) return true;
    const p: Node | null | undefined = v.producer;
    if (!p || !PASS_THROUGH.has(p.opType) || (p.domain !== '' && p.domain !== 'ai.onnx')) return false;
    v = p.inputs.find((i) => i !== null && !i.isConstant);
  }
  return false;
}

/**
 * Pads each Conv in `convs` (see needsChannelPadding); those in `pairSafe` with more than one input channel get
 * the interleaved layout (file comment). Needs opset ≥ 11 for Pad's input form.
 */
export function padConvInputChannels(model: Model, convs: readonly Node[], names: NameAllocator, pairSafe: ReadonlySet<Node> = new Set()): ChannelPadding[] {
  const opset = model.opsetVersion('') ?? 0;
  if (opset < 11) return [];
  const graph = model.graph;
  const done: ChannelPadding[] = [];
  for (const conv of convs) {
    if (conv.graph !== graph || !needsChannelPadding(conv, pairSafe.has(conv))) continue;
    const w = conv.inputs[1]!;
    const c = w.const!.shape[1];
    const interleave = pairSafe.has(conv) && c > 1;
    const to = Math.ceil((interleave ? 2 * c : c) / CONV_CHANNEL_MULTIPLE) * CONV_CHANNEL_MULTIPLE;
    conv.setInput(1, paddedWeight(graph, conv, w, to, interleave ? 2 : 1, names));
    conv.setInput(0, interleave ? interleaveInput(graph, conv, c, to, names) : padInput(graph, conv, to - c, names));
    done.push({ node: conv.name, from: c, to, ...(interleave ? { pairSafe: true } : {}) });
  }
  return done;
}

/** W'[o, stride·c] = W[o, c], zeros elsewhere. */
function paddedWeight(graph: Graph, conv: Node, w: Value, to: number, stride: number, names: NameAllocator): Value {
  const [m, c, kh, kw] = w.const!.shape;
  const k = kh * kw;
  const src = w.const!.toFloat32();
  const out = new Float32Array(m * to * k);
  for (let o = 0; o < m; o++) {
    for (let ci = 0; ci < c; ci++) out.set(src.subarray((o * c + ci) * k, (o * c + ci + 1) * k), (o * to + stride * ci) * k);
  }
  const shape = [m, to, kh, kw];
  // A weight only this Conv reads keeps its name (reports and --exclude globs match); a shared one is left alone.
  const exclusive = w.uses.length === 1 && w.uses[0].node === conv && !graph.outputs.includes(w) && graph.initializers.includes(w);
  if (exclusive) {
    w.const = Tensor.fromArray('float32', shape, out, w.name);
    w.shape = shape;
    return w;
  }
  const name = names.fresh(`${w.name}_padded`);
  return graph.addInitializer(name, Tensor.fromArray('float32', shape, out, name));
}

function padInput(graph: Graph, conv: Node, extra: number, names: NameAllocator): Value {
  const x = conv.inputs[0]!;
  const pads = new BigInt64Array(8);
  pads[5] = BigInt(extra); // end of axis 1 (channels)
  const padsName = names.fresh(`${conv.name || x.name}_channel_pads`);
  const padsValue = graph.addInitializer(padsName, Tensor.fromArray('int64', [8], pads, padsName));
  const shape = x.shape ? [...x.shape] : undefined;
  if (shape && typeof shape[1] === 'number') shape[1] += extra;
  const y = new Value(names.fresh(`${x.name}_channel_padded`), { dtype: x.dtype ?? 'float32', shape });
  graph.addNode(new Node({ opType: 'Pad', name: names.fresh(`${conv.name || x.name}_channel_pad`), inputs: [x, padsValue], outputs: [y] }), conv);
  return y;
}

/** x [N, C, …] → [N, to, …] holding x's channel c at 2c and zeros elsewhere: Pad one zero channel, then Gather. */
function interleaveInput(graph: Graph, conv: Node, c: number, to: number, names: NameAllocator): Value {
  const withZero = padInput(graph, conv, 1, names);
  const idx = BigInt64Array.from({ length: to }, (_, j) => BigInt(j % 2 === 0 && j / 2 < c ? j / 2 : c));
  const idxName = names.fresh(`${conv.name || 'conv'}_pair_safe_channels`);
  const indices = graph.addInitializer(idxName, Tensor.fromArray('int64', [to], idx, idxName));
  const x = conv.inputs[0]!;
  const shape = withZero.shape ? [...withZero.shape] : undefined;
  if (shape) shape[1] = to;
  const y = new Value(names.fresh(`${x.name}_pair_safe`), { dtype: withZero.dtype ?? 'float32', shape });
  graph.addNode(new Node({ opType: 'Gather', name: names.fresh(`${conv.name || x.name}_pair_safe_gather`), inputs: [withZero, indices], outputs: [y], attributes: [intAttr('axis', 1)] }), conv);
  return y;
}
