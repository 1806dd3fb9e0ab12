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
 */
import { Graph, Model, Node, Tensor, Value } from '../../../ir';
import { NameAllocator } from '../edits';

export interface ChannelPadding {
  node: string;
  from: number;
  to: number;
}

/** The multiple MLAS's symmetric int8 conv kernels need on x86 and ARM64. */
export const CONV_CHANNEL_MULTIPLE = 4;

/** True when `n` is a group-1 2-D Conv with a constant float32 weight whose input channels are not a multiple of 4. */
export function needsChannelPadding(n: Node): boolean {
  if (n.opType !== 'Conv' || (n.domain !== '' && n.domain !== 'ai.onnx') || n.attrInt('group', 1) !== 1) return false;
  const w = n.inputs[1];
  const x = n.inputs[0];
  if (!x || x.isConstant || !w?.const || w.const.dtype !== 'float32' || w.const.shape.length !== 4) return false;
  return w.const.shape[1] % CONV_CHANNEL_MULTIPLE !== 0;
}

/** Pads each Conv in `convs` (see needsChannelPadding); needs opset ≥ 11 for Pad's input form. */
export function padConvInputChannels(model: Model, convs: readonly Node[], names: NameAllocator): ChannelPadding[] {
  const opset = model.opsetVersion('') ?? 0;
  if (opset < 11) return [];
  const graph = model.graph;
  const done: ChannelPadding[] = [];
  for (const conv of convs) {
    if (conv.graph !== graph || !needsChannelPadding(conv)) continue;
    const w = conv.inputs[1]!;
    const c = w.const!.shape[1];
    const to = Math.ceil(c / CONV_CHANNEL_MULTIPLE) * CONV_CHANNEL_MULTIPLE;
    conv.setInput(1, paddedWeight(graph, conv, w, to, names));
    conv.setInput(0, padInput(graph, conv, to - c, names));
    done.push({ node: conv.name, from: c, to });
  }
  return done;
}

function paddedWeight(graph: Graph, conv: Node, w: Value, to: number, names: NameAllocator): Value {
  const [m, c, kh, kw] = w.const!.shape;
  const k = kh * kw;
  const src = w.const!.toFloat32();
  const out = new Float32Array(m * to * k);
  for (let o = 0; o < m; o++) out.set(src.subarray(o * c * k, (o + 1) * c * k), o * to * k);
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
