/**
 * The layer-input schedule of weight reconstruction (GPTQ, SparseGPT, bias
 * correction; issue 12 "Where the inputs come from"): each target layer's
 * H = 2·XᵀX/N and E[x] are accumulated from its real inputs X by an
 * ActivationSink on the layer's input tensor (calibrate/sink.ts), and the
 * layers are compressed *sequentially*: a layer's inputs are collected with
 * every target upstream of it already compressed (gptq.py's sequential
 * quantization; llama.py's true-sequential groups), so errors do not
 * compound blindly.
 *
 * The model is not run once per layer. A layer's *depth* is 0 when no target
 * is upstream of its input, else 1 + the largest depth upstream; layers of
 * one depth do not feed each other (q/k/v of a transformer block, the two
 * branches of an inception cell), so one pass over the data collects all of
 * them. Passes = distinct depths (a plain chain of n layers still needs n).
 *
 * Inputs per op (the reference's add_batch):
 *  - MatMul with a constant 2-D B [K, N]: W = Bᵀ [N, K]; X is A flattened
 *    over every leading axis (batch and sequence) to rows of K;
 *  - Gemm with a constant B: W = B (transB = 1) or Bᵀ; X = A (transA = 1: Aᵀ);
 *  - Conv (2-D, any group): W [M, C/g·kh·kw] per group; X the im2col rows of
 *    the group's input channels, each group its own H.
 * The per-matrix work is the caller's `(layer, H, E[x], W) → Ŵ` callback
 * (GPTQ, clip search, SparseGPT), so quantize and prune share this module.
 * The callback's Ŵ (and bias shift) go into a working clone of the model that
 * the next passes run; the caller's model is not touched. A 1-D Conv
 * ([M, C/g, k]) is the 2-D one with a kernel of height 1. tfjs models take the
 * same schedule with their inputs from stock tfjs (tfjs-layer-inputs.ts).
 */
import * as os from 'os';
import { InputError, UnsupportedError } from '../errors';
import { Dataset, PreprocessOptions } from '../data';
import { Attribute, intAttr, intsAttr, Model, Node, Tensor, Value } from '../ir';
import { ActivationSink, collectStatistics } from '../calibrate';
import { checkReconstructionMemory, Conv2dGeometry, HessianAccumulator, hessianBytes, im2colNhwc, im2colRows, NhwcConvGeometry } from '../passes/reconstruct';
import { collectTfjsLayerInputs, findTfjsLayers, tfjsBiasSlot } from './tfjs-layer-inputs';

export type LayerOp = 'MatMul' | 'Gemm' | 'Conv';

/** One layer whose weight can be reconstructed from its inputs. */
export interface ReconstructLayer {
  /** The weight's initializer name (what the quantize pass and reports call it). */
  name: string;
  node: Node;
  op: LayerOp;
  /** The input tensor X (a main-graph value name). */
  input: string;
  /** The weight's own shape. */
  shape: number[];
  /** Groups (Conv `group`; 1 otherwise); each has its own H. */
  groups: number;
  /** Output channels per group (rows of W per group). */
  rows: number;
  /** Inputs per row of W (K, or C/g·kh·kw). */
  cols: number;
  /** Conv geometry (Conv only). */
  conv?: Conv2dGeometry;
  /** Gemm: A transposed. */
  transA?: boolean;
  /** Order in the graph (node order). */
  index: number;
  /** Sequential depth (see the file comment). */
  depth: number;
  /** A tfjs layer (tfjs-layer-inputs.ts): its inputs come from stock tfjs, not onnxruntime. */
  tfjs?: TfjsLayer;
}

/** How a tfjs layer's weight and input are laid out (op is 'Conv' for a 2-D NHWC convolution, else 'MatMul'). */
export interface TfjsLayer {
  /** The stored weight is Wᵀ: a MatMul B [K, N], or a conv kernel [kh, kw, cin, cout] viewed as [kh·kw·cin, cout]. */
  transposed: boolean;
  /** NHWC convolution geometry (W's columns in the order (ky, kx, c)). */
  nhwc?: NhwcConvGeometry;
  /** What fetches the input: a graph-model tensor name, or the Keras layer whose input it is. */
  fetch: { graph: string } | { layer: string };
}

/** What the callback gets for one group of one layer. */
export interface LayerInputs {
  layer: ReconstructLayer;
  group: number;
  /** H = 2·XᵀX/N, [cols, cols] float64. */
  h: Float64Array;
  /** E[x] per input column. */
  mean: Float64Array;
  /** The layer's current weight rows of this group, [rows, cols] row-major (W orientation: outputs × inputs). */
  w: Float32Array;
  /** Rows of X seen and samples (the running average's N). */
  rowsSeen: number;
  samples: number;
}

/** What the callback hands back: the replacement weight rows (as the next layers should see them) and an optional bias shift. */
export interface LayerResult {
  /** [rows, cols] float32, W orientation. */
  weight: Float32Array;
  /** Added to the bias of each of this group's output channels (bias correction); needs a bias slot (biasSlotOf). */
  biasShift?: Float64Array;
}

export type ReconstructFn<R extends LayerResult> = (inputs: LayerInputs) => R | Promise<R>;

export interface ScheduleOptions {
  /** Samples to read (default: all). */
  samples?: number;
  /** Samples per onnxruntime run. */
  batchSize?: number;
  preprocess?: Partial<PreprocessOptions>;
  /** Refuse a layer whose reconstruction needs more bytes than this (default: half the machine's memory). */
  memoryLimitBytes?: number;
  /** onnxruntime threads. */
  threads?: number;
  /** Where XᵀX of MatMul/Gemm inputs is computed (default 'onnxruntime'; see withGram). */
  gramIn?: GramIn;
  progress?: (message: string) => void;
}

export interface ScheduleResult<R extends LayerResult> {
  /** Passes over the calibration data (one per depth). */
  passes: number;
  /** The layers in graph order, with per-group results. */
  layers: { layer: ReconstructLayer; results: R[]; rowsSeen: number; samples: number }[];
  /** The working clone with every replacement (and bias shift) written in. */
  model: Model;
  /** Seconds in onnxruntime + sinks (collection), and in the callbacks. */
  seconds: { collect: number; reconstruct: number };
}

export interface SkippedLayer {
  name: string;
  reason: string;
}

/**
 * The reconstructable layers of a model's main graph, in node order, among
 * `names` (weight names; default every candidate). A weight read by more than
 * one node (tied), not float32, or of a form the sink cannot read is skipped
 * with its reason.
 */
export function findLayers(model: Model, names?: ReadonlySet<string>): { layers: ReconstructLayer[]; skipped: SkippedLayer[] } {
  if (model.format !== 'onnx') return findTfjsLayers(model, names);
  const layers: ReconstructLayer[] = [];
  const skipped: SkippedLayer[] = [];
  const nodes = model.graph.nodes;
  // depth by max-propagation over node order (ONNX graphs are topologically sorted)
  const level = new Map<Value, number>();
  const levelOf = (v: Value | null): number => (v ? level.get(v) ?? 0 : 0);
  nodes.forEach((node, index) => {
    const inLevel = Math.max(0, ...node.inputs.map(levelOf));
    const layer = layerOf(node, index, inLevel, names, skipped);
    if (layer) layers.push(layer);
    const out = layer ? inLevel + 1 : inLevel;
    for (const o of node.outputs) level.set(o, out);
  });
  return { layers, skipped };
}

function layerOf(node: Node, index: number, depth: number, names: ReadonlySet<string> | undefined, skipped: SkippedLayer[]): ReconstructLayer | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  const op = node.opType;
  if (op !== 'MatMul' && op !== 'Gemm' && op !== 'Conv') return undefined;
  const x = node.inputs[0];
  const wv = node.inputs[1];
  if (!x || !wv?.const || x.const) return undefined;
  const name = wv.name;
  if (names && !names.has(name)) return undefined;
  const skip = (reason: string): undefined => {
    skipped.push({ name, reason });
    return undefined;
  };
  if (wv.uses.length !== 1) return skip(`read by ${wv.uses.length} node inputs (a tied weight has one H per reader)`);
  if (wv.const.dtype !== 'float32') return skip(`${wv.const.dtype} weight (reconstruction reads float32 weights)`);
  const shape = [...wv.const.shape];
  const base = { name, node, input: x.name, shape, index, depth };
  if (op === 'MatMul') {
    if (shape.length !== 2) return skip(`MatMul B of rank ${shape.length} (a constant 2-D B only)`);
    return { ...base, op, groups: 1, rows: shape[1], cols: shape[0] };
  }
  if (op === 'Gemm') {
    const transB = node.attrInt('transB', 0) === 1;
    return { ...base, op, groups: 1, rows: transB ? shape[0] : shape[1], cols: transB ? shape[1] : shape[0], transA: node.attrInt('transA', 0) === 1 };
  }
  if (shape.length !== 4 && shape.length !== 3) return skip(`Conv weight of rank ${shape.length} (1-D and 2-D convolutions only)`);
  const autoPad = node.attributes.has('auto_pad') ? node.attrString('auto_pad') : 'NOTSET';
  if (autoPad !== 'NOTSET') return skip(`Conv auto_pad ${autoPad} (explicit pads only)`);
  const group = node.attrInt('group', 1);
  // a 1-D conv [M, C/g, k] on [N, C, L] is the 2-D one with a kernel of height 1 on [N, C, 1, L] (the sink views it so)
  const oneD = shape.length === 3;
  const [m, cg, kh, kw] = oneD ? [shape[0], shape[1], 1, shape[2]] : shape;
  if (m % group !== 0) return skip(`${m} output channels do not split into ${group} groups`);
  const ints = (a: string, d: number[]): number[] => (node.attributes.has(a) ? node.attrInts(a) : d);
  const [pt, pl, pb, pr] = oneD ? ((p) => [0, p[0], 0, p[1]])(ints('pads', [0, 0])) : ints('pads', [0, 0, 0, 0]);
  const [sh, sw] = oneD ? [1, ints('strides', [1])[0]] : ints('strides', [1, 1]);
  const [dh, dw] = oneD ? [1, ints('dilations', [1])[0]] : ints('dilations', [1, 1]);
  const conv: Conv2dGeometry = { kernel: [kh, kw], strides: [sh, sw], pads: [pt, pl, pb, pr], dilations: [dh, dw], group };
  return { ...base, op: 'Conv', groups: group, rows: m / group, cols: cg * kh * kw, conv };
}

/** Layers by depth, depths ascending, each list in graph order. */
export function scheduleGroups(layers: readonly ReconstructLayer[]): ReconstructLayer[][] {
  const byDepth = new Map<number, ReconstructLayer[]>();
  for (const l of layers) byDepth.set(l.depth, [...(byDepth.get(l.depth) ?? []), l]);
  return [...byDepth.keys()].sort((a, b) => a - b).map((d) => byDepth.get(d)!.sort((a, b) => a.index - b.index));
}

/** Rows [group·rows, (group+1)·rows) of the layer's weight in W orientation (outputs × inputs). */
export function weightRows(layer: ReconstructLayer, data: Float32Array, group: number): Float32Array {
  const { rows, cols } = layer;
  const r0 = group * rows;
  if (!transposedStorage(layer)) return data.slice(r0 * cols, (r0 + rows) * cols);
  const n = layer.rows * layer.groups;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = data[c * n + r0 + r];
  return out;
}

/** Writes W-orientation rows of one group back into the weight's own layout (in place). */
export function setWeightRows(layer: ReconstructLayer, data: Float32Array, group: number, w: Float32Array): void {
  const { rows, cols } = layer;
  const r0 = group * rows;
  if (!transposedStorage(layer)) {
    data.set(w, r0 * cols);
    return;
  }
  const n = layer.rows * layer.groups;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * n + r0 + r] = w[r * cols + c];
}

/** MatMul B [K, N] and Gemm B with transB = 0 hold Wᵀ. */
function transposedStorage(layer: ReconstructLayer): boolean {
  if (layer.tfjs) return layer.tfjs.transposed;
  return layer.op === 'MatMul' || (layer.op === 'Gemm' && layer.node.attrInt('transB', 0) !== 1);
}

/** Where a layer's per-output-channel bias lives (biasSlotOf). */
export type BiasSlot =
  | { kind: 'input'; node: Node; index: number; value?: Value; scale: number }
  | { kind: 'add'; node: Node; value: Value; scale: number }
  | { kind: 'none'; reason: string };

/**
 * The bias a layer's output channels can be shifted through: a Conv's B or a
 * Gemm's C (added when absent: both ops allow it), or for a MatMul the
 * constant [N] of an Add that alone reads its output. `scale` converts a shift
 * of the output into a shift of the stored bias (1/beta for Gemm).
 */
export function biasSlotOf(layer: ReconstructLayer): BiasSlot {
  const n = layer.node;
  const channels = layer.rows * layer.groups;
  if (layer.tfjs) return tfjsBiasSlot(layer);
  const own = (v: Value | null | undefined, index: number, scale: number): BiasSlot => {
    if (!v) return { kind: 'input', node: n, index, scale };
    if (!v.const || v.const.dtype !== 'float32') return { kind: 'none', reason: `its bias '${v.name}' is not a float32 constant` };
    if (v.uses.length !== 1) return { kind: 'none', reason: `its bias '${v.name}' is shared with other nodes` };
    if (v.const.size !== channels) return { kind: 'none', reason: `its bias '${v.name}' has shape [${v.const.shape.join(', ')}], not one value per output channel` };
    return { kind: 'input', node: n, index, value: v, scale };
  };
  if (layer.op === 'Conv') return own(n.inputs[2], 2, 1);
  if (layer.op === 'Gemm') {
    const beta = n.attrFloat('beta', 1);
    const alpha = n.attrFloat('alpha', 1);
    if (beta === 0 && n.inputs[2]) return { kind: 'none', reason: 'Gemm beta is 0' };
    return own(n.inputs[2], 2, alpha / (n.inputs[2] ? beta : 1));
  }
  const out = n.outputs[0];
  const uses = out.uses;
  if (uses.length !== 1 || uses[0].node.opType !== 'Add') return { kind: 'none', reason: 'the MatMul output is not read by exactly one Add (MatMul has no bias input)' };
  const add = uses[0].node;
  const other = add.inputs[1 - uses[0].index];
  if (!other?.const || other.const.dtype !== 'float32' || other.const.size !== channels || other.const.shape[other.const.shape.length - 1] !== channels) {
    return { kind: 'none', reason: `the Add after the MatMul does not add a constant [${channels}] bias` };
  }
  if (other.uses.length !== 1) return { kind: 'none', reason: `the bias '${other.name}' is shared with other nodes` };
  return { kind: 'add', node: add, value: other, scale: 1 };
}

/**
 * Adds `shift` (per output channel, output units) to the layer's bias in `model`
 * (the layer's node must be in `model`); creates a zero bias input where the op
 * allows one. Returns the bias name, or the reason it was not possible.
 */
export function applyBiasShift(model: Model, layer: ReconstructLayer, shift: Float64Array): { bias: string } | { reason: string } {
  const slot = biasSlotOf(layer);
  if (slot.kind === 'none') return { reason: slot.reason };
  const channels = layer.rows * layer.groups;
  let value = slot.value;
  if (!value) {
    if (slot.kind !== 'input') return { reason: 'no bias' };
    value = model.graph.addInitializer(model.graph.uniqueName(`${layer.name}.bias_correction`), Tensor.fromArray('float32', [channels], new Float32Array(channels)));
    while (slot.node.inputs.length < slot.index) slot.node.appendInput(null);
    if (slot.node.inputs.length === slot.index) slot.node.appendInput(value);
    else slot.node.setInput(slot.index, value);
  }
  const t = value.const!;
  const b = Float32Array.from(t.toFloat32());
  for (let c = 0; c < channels; c++) b[c] = Math.fround(b[c] + shift[c] * slot.scale);
  value.const = Tensor.fromArray('float32', [...t.shape], b, t.name);
  return { bias: value.name };
}

/** The same layer found in another model with the same graph (a clone): by node position. */
export function layerIn(model: Model, layer: ReconstructLayer): ReconstructLayer {
  const node = model.graph.nodes[layer.index];
  if (!node || node.opType !== layer.node.opType || node.inputs[1]?.name !== layer.name) throw new Error(`layer '${layer.name}' is not at node ${layer.index} of the model`);
  return { ...layer, node };
}

/** Names of the in-graph XᵀX of one layer input (withGram): G [K, K], Σ_rows x [K], and X's shape as floats. */
export interface GramOutputs {
  gram: string;
  sum: string;
  shape: string;
}

/** Where XᵀX is computed: in the model by onnxruntime (float32 GEMM, MatMul and Gemm inputs; Conv always in mc), or in mc's float64 kernel. */
export type GramIn = 'onnxruntime' | 'mc';

/**
 * A clone of `model` that also computes, for each MatMul/Gemm input of `layers`
 * (one per input tensor), X2 = Reshape(X, [-1, K]), G = Gemm(X2, X2, transA) = X2ᵀ·X2, S = ReduceSum(X2, axis 0)
 * and Cast(Shape(X)): what HessianAccumulator.addGram takes. onnxruntime's GEMM
 * makes collection as fast as inference instead of a second GEMM over every
 * activation copied out to JS (issue 12 allows a float32 GEMM from onnxruntime
 * as long as batches are summed in float64). Conv inputs and Gemm with transA
 * stay with mc (im2col / transpose).
 */
export function withGram(model: Model, layers: readonly ReconstructLayer[]): { model: Model; grams: Map<string, GramOutputs> } {
  const m = model.clone();
  const g = m.graph;
  const byName = new Map<string, Value>();
  for (const v of g.values()) byName.set(v.name, v);
  const opset = m.opsetVersion('') ?? 13;
  const grams = new Map<string, GramOutputs>();
  for (const l of layers) {
    const key = keyOf(l);
    if (l.op === 'Conv' || l.transA || grams.has(key)) continue;
    const x = byName.get(l.input);
    if (!x) continue;
    const base = g.uniqueName(`${l.input}/mc_gram`);
    const v = (suffix: string, dtype: 'float32' | 'int64' = 'float32', shape?: number[]): Value => new Value(g.uniqueName(`${base}_${suffix}`), { dtype, shape });
    const shapeConst = g.addInitializer(g.uniqueName(`${base}_rows_shape`), Tensor.fromArray('int64', [2], BigInt64Array.of(-1n, BigInt(l.cols))));
    const x2 = v('x2', 'float32', undefined);
    const gram = v('g', 'float32', [l.cols, l.cols]);
    const sum = v('s', 'float32', [l.cols]);
    const shp = v('shape_i', 'int64');
    const shpF = v('shape', 'float32');
    const add = (opType: string, inputs: Value[], outputs: Value[], attributes: Attribute[] = []): void => {
      g.addNode(new Node({ opType, name: outputs[0].name, inputs, outputs, attributes }));
    };
    add('Reshape', [x, shapeConst], [x2]);
    // Gemm with transA reads X2 in place (a Transpose + MatMul would copy it first); before opset 11 Gemm needs C (a zero here)
    const c = opset < 11 ? [g.addInitializer(g.uniqueName(`${base}_zero`), Tensor.fromArray('float32', [1], Float32Array.of(0)))] : [];
    add('Gemm', [x2, x2, ...c], [gram], [intAttr('transA', 1)]);
    if (opset >= 13) {
      const axes = g.addInitializer(g.uniqueName(`${base}_axes`), Tensor.fromArray('int64', [1], BigInt64Array.of(0n)));
      add('ReduceSum', [x2, axes], [sum], [intAttr('keepdims', 0)]);
    } else {
      add('ReduceSum', [x2], [sum], [intsAttr('axes', [0]), intAttr('keepdims', 0)]);
    }
    add('Shape', [x], [shp]);
    add('Cast', [shp], [shpF], [intAttr('to', 1)]);
    grams.set(key, { gram: gram.name, sum: sum.name, shape: shpF.name });
  }
  return { model: m, grams };
}

/** The accumulators of one pass: one per (input tensor, geometry, group), shared by layers that read the same X. */
export class LayerInputSink implements ActivationSink {
  readonly tensors: string[];
  private readonly accs = new Map<string, HessianAccumulator[]>();
  private readonly readers = new Map<string, { key: string; layer: ReconstructLayer }[]>();
  /** In-graph Gram outputs (withGram) by output name, and the parts of the current batch received so far. */
  private readonly gramOf = new Map<string, { key: string; layer: ReconstructLayer; part: keyof GramOutputs }>();
  private readonly pending = new Map<string, Partial<Record<keyof GramOutputs, Float32Array>>>();

  constructor(layers: readonly ReconstructLayer[], grams: ReadonlyMap<string, GramOutputs> = new Map()) {
    for (const l of layers) {
      const key = keyOf(l);
      if (!this.accs.has(key)) {
        this.accs.set(key, Array.from({ length: l.groups }, () => new HessianAccumulator(l.cols)));
        const gr = grams.get(key);
        if (gr) for (const part of ['gram', 'sum', 'shape'] as const) this.gramOf.set(gr[part], { key, layer: l, part });
        else this.readers.set(l.input, [...(this.readers.get(l.input) ?? []), { key, layer: l }]);
      }
    }
    this.tensors = [...this.readers.keys(), ...this.gramOf.keys()];
  }

  accumulators(l: ReconstructLayer): HessianAccumulator[] {
    return this.accs.get(keyOf(l))!;
  }

  observe(name: string, data: Float32Array, shape: readonly number[]): void {
    const gr = this.gramOf.get(name);
    if (gr) {
      // the three parts of one batch arrive one after another; copy each (the buffer is onnxruntime's)
      const p = this.pending.get(gr.key) ?? {};
      p[gr.part] = data.slice();
      this.pending.set(gr.key, p);
      if (p.gram && p.sum && p.shape) {
        this.pending.delete(gr.key);
        const dims = Array.from(p.shape);
        const rows = dims.slice(0, -1).reduce((a, b) => a * b, 1);
        if (dims[dims.length - 1] !== gr.layer.cols) {
          throw new InputError(`layer '${gr.layer.name}': input '${gr.layer.input}' has shape [${dims.join(', ')}], its last axis is not the weight's ${gr.layer.cols} inputs`);
        }
        this.accs.get(gr.key)![0].addGram(p.gram, p.sum, rows, gr.layer.op === 'Gemm' ? rows : dims[0] ?? 1);
      }
      return;
    }
    for (const { key, layer } of this.readers.get(name) ?? []) {
      const accs = this.accs.get(key)!;
      const batch = shape.length ? shape[0] : 1;
      if (layer.tfjs?.nhwc) {
        if (shape.length !== 4) throw new InputError(`layer '${layer.name}': Conv2D input '${name}' has shape [${shape.join(', ')}], not [N, H, W, C]`);
        const x = im2colNhwc(data, shape as [number, number, number, number], layer.tfjs.nhwc);
        if (x.cols !== layer.cols) throw new InputError(`layer '${layer.name}': input '${name}' has shape [${shape.join(', ')}], not the kernel's ${layer.cols / (layer.tfjs.nhwc.kernel[0] * layer.tfjs.nhwc.kernel[1])} input channels`);
        accs[0].add(x.data, x.rows, batch);
        continue;
      }
      if (layer.op === 'Conv') {
        const rank = layer.shape.length;
        if (shape.length !== rank) throw new InputError(`layer '${layer.name}': Conv input '${name}' has shape [${shape.join(', ')}], not [N, C, ${rank === 3 ? 'L' : 'H, W'}]`);
        const s4 = (rank === 3 ? [shape[0], shape[1], 1, shape[2]] : shape) as [number, number, number, number];
        const cols = im2colRows(data, s4, layer.conv!);
        cols.groups.forEach((x, g) => accs[g].add(x, cols.rows, batch));
        continue;
      }
      const k = layer.cols;
      if (layer.op === 'Gemm' && layer.transA) {
        // A [K, M]: rows are its columns
        const m = data.length / k;
        const x = new Float32Array(data.length);
        for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) x[j * k + i] = data[i * m + j];
        accs[0].add(x, m, m);
        continue;
      }
      if (data.length % k !== 0 || (shape.length && shape[shape.length - 1] !== k)) {
        throw new InputError(`layer '${layer.name}': input '${name}' has shape [${shape.join(', ')}], its last axis is not the weight's ${k} inputs`);
      }
      const rows = data.length / k;
      // a Gemm's A is [M, K]: every row a sample; a MatMul's samples are the leading axis (gptq.py: inp.shape[0])
      accs[0].add(data, rows, layer.op === 'Gemm' ? rows : batch);
    }
  }
}

function keyOf(l: ReconstructLayer): string {
  if (l.tfjs) return `${l.input}|${JSON.stringify(l.tfjs.nhwc ?? null)}|${l.cols}`;
  return `${l.input}|${l.op === 'Conv' ? JSON.stringify(l.conv) : l.transA ? 'T' : ''}|${l.cols}`;
}

/**
 * Runs the sequential schedule over `layers` (from findLayers on `model`):
 * one pass over the data per depth, the callback per layer and group in graph
 * order, every replacement written into a working clone before the next pass.
 */
export async function reconstructSequential<R extends LayerResult>(
  model: Model, layers: readonly ReconstructLayer[], data: Dataset | string, fn: ReconstructFn<R>, o: ScheduleOptions = {},
): Promise<ScheduleResult<R>> {
  const progress = o.progress ?? (() => {});
  const limit = o.memoryLimitBytes ?? Math.floor(os.totalmem() / 2);
  for (const l of layers) checkReconstructionMemory(l.name, l.rows, l.cols, limit);
  const work = model.clone();
  const out: ScheduleResult<R>['layers'] = [];
  const seconds = { collect: 0, reconstruct: 0 };
  const groups = scheduleGroups(layers);
  for (const [p, group] of groups.entries()) {
    const here = group.map((l) => layerIn(work, l));
    // the accumulators of one pass live together: check their sum too
    const bytes = here.reduce((s, l) => s + l.groups * hessianBytes(l.cols), 0);
    if (bytes > limit) {
      throw new UnsupportedError(`the ${here.length} layers of pass ${p + 1} (${here.map((l) => l.name).join(', ')}) need ${(bytes / 2 ** 20).toFixed(0)} MiB of float64 H together, over the ${(limit / 2 ** 20).toFixed(0)} MiB allowed`);
    }
    progress(`reconstruct pass ${p + 1}/${groups.length}: collecting inputs of ${here.map((l) => l.name).join(', ')}`);
    const tfjs = work.format !== 'onnx';
    const run = !tfjs && (o.gramIn ?? 'onnxruntime') === 'onnxruntime' ? withGram(work, here) : { model: work, grams: new Map<string, GramOutputs>() };
    const sink = new LayerInputSink(here, run.grams);
    const t0 = process.hrtime.bigint();
    if (tfjs) await collectTfjsLayerInputs(work, here, data, sink, { samples: o.samples, batchSize: o.batchSize, preprocess: o.preprocess });
    else await collectStatistics(run.model, [], data, { kinds: [], sinks: [sink], samples: o.samples, batchSize: o.batchSize, preprocess: o.preprocess, threads: o.threads, observeIn: 'main' });
    const t1 = process.hrtime.bigint();
    seconds.collect += Number(t1 - t0) / 1e9;
    for (const l of here) {
      const accs = sink.accumulators(l);
      const wv = l.node.inputs[1]!;
      const data32 = Float32Array.from(wv.const!.toFloat32());
      const results: R[] = [];
      const shift = new Float64Array(l.rows * l.groups);
      let shifted = false;
      for (let g = 0; g < l.groups; g++) {
        const acc = accs[g];
        progress(`reconstructing ${l.name}${l.groups > 1 ? ` group ${g + 1}/${l.groups}` : ''}`);
        const r = await fn({ layer: l, group: g, h: acc.hessian(), mean: acc.mean(), w: weightRows(l, data32, g), rowsSeen: acc.rows, samples: acc.samples });
        if (r.weight.length !== l.rows * l.cols) throw new RangeError(`reconstruction of '${l.name}' returned ${r.weight.length} values, expected ${l.rows}×${l.cols}`);
        setWeightRows(l, data32, g, r.weight);
        if (r.biasShift) {
          shift.set(r.biasShift, g * l.rows);
          shifted = true;
        }
        results.push(r);
      }
      wv.const = Tensor.fromArray('float32', [...l.shape], data32, wv.const!.name);
      if (shifted) applyBiasShift(work, l, shift);
      out.push({ layer: layers.find((x) => x.index === l.index)!, results, rowsSeen: accs[0].rows, samples: accs[0].samples });
    }
    seconds.reconstruct += Number(process.hrtime.bigint() - t1) / 1e9;
  }
  return { passes: groups.length, layers: out, model: work, seconds };
}
