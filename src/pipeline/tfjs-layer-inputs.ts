/**
 * The tfjs side of the layer-input schedule (reconstruct-schedule.ts; issue 12
 * "Both formats ... For tfjs, use the tfjs runtime"): which layers of a tfjs
 * model can be reconstructed, and one pass of their inputs through stock
 * @tensorflow/tfjs on the backend the rest of mc uses (initTfjs: wasm).
 *
 *  - graph models: MatMul / _FusedMatMul (B constant, transpose_a false) and
 *    Conv2D / _FusedConv2D (NHWC, SAME or VALID). The input is fetched by
 *    GraphModel.execute(inputs, [input tensor names]): intermediate tensors
 *    are outputs like any other. A fused bias/activation comes after W·x, so
 *    it does not change the layer's X; a fused FusedBatchNorm scales each
 *    output row, which GPTQ's per-row objective does not see either (bias
 *    correction refuses it, see tfjsBiasSlot).
 *  - layers models: Dense and Conv2D (channels_last, groups 1). A tf.model
 *    over the loaded model's inputs whose outputs are the target layers'
 *    input tensors gives them in one predict().
 * The weight's own layout is kept: Dense / MatMul kernels [K, N] and conv
 * kernels [kh, kw, cin, cout] (= [kh·kw·cin, cout]) hold Wᵀ, so W's columns
 * are in the order (ky, kx, c) and X's rows come from im2colNhwc in the same
 * order. DepthwiseConv2dNative and other kernels are skipped with the reason.
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors';
import { openDataset, validateAgainst, type Dataset, type InputSpec, type PreprocessOptions } from '../data';
import type { Model, Node, Value } from '../ir';
import { encodeTfjs } from '../formats/tfjs';
import type { ActivationSink } from '../calibrate';
import { initTfjs } from '../runtime/tfjs-backend';
import type { NhwcConvGeometry } from '../passes/reconstruct';
import type { BiasSlot, ReconstructLayer, SkippedLayer, TfjsLayer } from './reconstruct-schedule';

type Json = Record<string, unknown>;

function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A graph-model node's AttrValue JSON (kept verbatim by formats/tfjs). */
function tfAttr(node: Node, key: string): Json | undefined {
  const a = node.attributes.get(key);
  return a && isObj(a.value) ? a.value : undefined;
}

function tfString(node: Node, key: string): string | undefined {
  const a = tfAttr(node, key);
  return typeof a?.s === 'string' ? Buffer.from(a.s, 'base64').toString('utf8') : undefined;
}

function tfInts(node: Node, key: string): number[] | undefined {
  const l = tfAttr(node, key)?.list;
  return isObj(l) && Array.isArray(l.i) ? l.i.map(Number) : undefined;
}

function tfStrings(node: Node, key: string): string[] {
  const l = tfAttr(node, key)?.list;
  return isObj(l) && Array.isArray(l.s) ? l.s.map((x) => Buffer.from(String(x), 'base64').toString('utf8')) : [];
}

function kerasConfig(node: Node): Json {
  const a = node.attributes.get('config');
  return a && isObj(a.value) ? a.value : {};
}

const pair = (x: unknown, d: number): [number, number] =>
  Array.isArray(x) ? [Number(x[0]), Number(x[x.length > 1 ? 1 : 0])] : typeof x === 'number' ? [x, x] : [d, d];

/** The reconstructable layers of a tfjs model (graph or layers), in graph order, with depths as findLayers gives them. */
export function findTfjsLayers(model: Model, names?: ReadonlySet<string>): { layers: ReconstructLayer[]; skipped: SkippedLayer[] } {
  const layers: ReconstructLayer[] = [];
  const skipped: SkippedLayer[] = [];
  const nodes = model.graph.nodes;
  const indexOf = new Map(nodes.map((n, i) => [n, i]));
  const layerAt = new Map<Node, ReconstructLayer>();
  nodes.forEach((node, index) => {
    const l = node.domain === 'keras' ? kerasLayer(node, index, names, skipped) : graphLayer(node, index, names, skipped);
    if (l) { layers.push(l); layerAt.set(node, l); }
  });
  // depth: 1 + the deepest target upstream (memoized over producers; tfjs node lists need not be sorted)
  const memo = new Map<Value, number>();
  const levelOf = (v: Value | null, seen: Set<Node>): number => {
    if (!v) return 0;
    const known = memo.get(v);
    if (known !== undefined) return known;
    const p = v.producer;
    let d = 0;
    if (p && !seen.has(p) && indexOf.has(p)) {
      seen.add(p);
      const inner = Math.max(0, ...p.inputs.map((x) => levelOf(x, seen)));
      d = layerAt.has(p) ? inner + 1 : inner;
    }
    memo.set(v, d);
    return d;
  };
  for (const l of layers) l.depth = levelOf(l.node.inputs[0], new Set());
  return { layers, skipped };
}

function weightOf(node: Node, names: ReadonlySet<string> | undefined, skipped: SkippedLayer[]): Value | undefined {
  const x = node.inputs[0];
  const wv = node.inputs[1];
  if (!x || x.const || !wv?.const) return undefined;
  if (names && !names.has(wv.name)) return undefined;
  if (wv.uses.length !== 1) { skipped.push({ name: wv.name, reason: `read by ${wv.uses.length} node inputs (a tied weight has one H per reader)` }); return undefined; }
  if (wv.const.dtype !== 'float32') { skipped.push({ name: wv.name, reason: `${wv.const.dtype} weight (reconstruction reads float32 weights)` }); return undefined; }
  return wv;
}

function layerFrom(node: Node, index: number, wv: Value, op: 'MatMul' | 'Conv', rows: number, cols: number, tfjs: TfjsLayer): ReconstructLayer {
  return { name: wv.name, node, op, input: node.inputs[0]!.name, shape: [...wv.const!.shape], groups: 1, rows, cols, index, depth: 0, tfjs };
}

function graphLayer(node: Node, index: number, names: ReadonlySet<string> | undefined, skipped: SkippedLayer[]): ReconstructLayer | undefined {
  const op = node.opType;
  const isMatMul = op === 'MatMul' || op === '_FusedMatMul';
  const isConv = op === 'Conv2D' || op === '_FusedConv2D';
  const depthwise = op === 'DepthwiseConv2dNative' || op === 'FusedDepthwiseConv2dNative';
  if (!isMatMul && !isConv && !depthwise) return undefined;
  const wv = weightOf(node, names, skipped);
  if (!wv) return undefined;
  const skip = (reason: string): undefined => { skipped.push({ name: wv.name, reason: `${op}: ${reason}` }); return undefined; };
  const shape = wv.const!.shape;
  const fetch = { graph: node.inputs[0]!.name };
  if (depthwise) return skip('a depthwise convolution (one H per channel of kh·kw columns: not built for tfjs)');
  if (isMatMul) {
    if (shape.length !== 2) return skip(`B of rank ${shape.length} (a constant 2-D B only)`);
    if (tfAttr(node, 'transpose_a')?.b === true) return skip('transpose_a (X would be read transposed)');
    const tb = tfAttr(node, 'transpose_b')?.b === true;
    return layerFrom(node, index, wv, 'MatMul', tb ? shape[0] : shape[1], tb ? shape[1] : shape[0], { transposed: !tb, fetch });
  }
  if (shape.length !== 4) return skip(`kernel of rank ${shape.length}`);
  const format = tfString(node, 'data_format') ?? 'NHWC';
  if (format !== 'NHWC') return skip(`data_format ${format} (NHWC only)`);
  const padding = tfString(node, 'padding') ?? 'VALID';
  if (padding !== 'SAME' && padding !== 'VALID') return skip(`padding ${padding} (SAME or VALID only)`);
  const s = tfInts(node, 'strides') ?? [1, 1, 1, 1];
  const d = tfInts(node, 'dilations') ?? [1, 1, 1, 1];
  const [kh, kw, cin, cout] = shape;
  const nhwc: NhwcConvGeometry = { kernel: [kh, kw], strides: [s[1], s[2]], dilations: [d[1], d[2]], padding };
  return layerFrom(node, index, wv, 'Conv', cout, kh * kw * cin, { transposed: true, nhwc, fetch });
}

function kerasLayer(node: Node, index: number, names: ReadonlySet<string> | undefined, skipped: SkippedLayer[]): ReconstructLayer | undefined {
  const op = node.opType;
  if (op !== 'Dense' && op !== 'Conv2D') return undefined;
  const wv = weightOf(node, names, skipped);
  if (!wv) return undefined;
  const skip = (reason: string): undefined => { skipped.push({ name: wv.name, reason: `${op}: ${reason}` }); return undefined; };
  const shape = wv.const!.shape;
  const fetch = { layer: node.name };
  if (op === 'Dense') {
    if (shape.length !== 2) return skip(`kernel of rank ${shape.length}`);
    return layerFrom(node, index, wv, 'MatMul', shape[1], shape[0], { transposed: true, fetch });
  }
  const c = kerasConfig(node);
  if ((c.data_format ?? 'channels_last') !== 'channels_last') return skip(`data_format ${String(c.data_format)} (channels_last only)`);
  if (Number(c.groups ?? 1) !== 1) return skip(`groups ${String(c.groups)} (1 only)`);
  const padding = String(c.padding ?? 'valid').toUpperCase();
  if (padding !== 'SAME' && padding !== 'VALID') return skip(`padding ${padding.toLowerCase()} (same or valid only)`);
  if (shape.length !== 4) return skip(`kernel of rank ${shape.length}`);
  const [kh, kw, cin, cout] = shape;
  const nhwc: NhwcConvGeometry = { kernel: [kh, kw], strides: pair(c.strides, 1), dilations: pair(c.dilation_rate, 1), padding };
  return layerFrom(node, index, wv, 'Conv', cout, kh * kw * cin, { transposed: true, nhwc, fetch });
}

/**
 * Where a tfjs layer's bias is: a fused op's BiasAdd operand (first of
 * fused_ops), a Keras layer's bias weight, or the constant of one BiasAdd/Add
 * reading the output. A fused FusedBatchNorm scales the output after W·x, and
 * a layer without a bias cannot gain one in tfjs (the topology is fixed).
 */
export function tfjsBiasSlot(layer: ReconstructLayer): BiasSlot {
  const n = layer.node;
  const channels = layer.rows;
  const check = (v: Value | null | undefined, slot: (v: Value) => BiasSlot): BiasSlot => {
    if (!v?.const || v.const.dtype !== 'float32') return { kind: 'none', reason: 'its bias is not a float32 constant' };
    if (v.uses.length !== 1) return { kind: 'none', reason: `its bias '${v.name}' is shared with other nodes` };
    if (v.const.size !== channels) return { kind: 'none', reason: `its bias '${v.name}' has shape [${v.const.shape.join(', ')}], not one value per output channel` };
    return slot(v);
  };
  if (n.domain === 'keras') {
    if (kerasConfig(n).use_bias === false || !n.inputs[2]) return { kind: 'none', reason: 'the layer has no bias (use_bias false; a tfjs layer cannot gain one)' };
    return check(n.inputs[2], (v) => ({ kind: 'input', node: n, index: 2, value: v, scale: 1 }));
  }
  if (n.opType.startsWith('_Fused')) {
    const ops = tfStrings(n, 'fused_ops');
    if (ops[0] !== 'BiasAdd') return { kind: 'none', reason: `the fused ops are ${ops.join(', ') || 'none'} (a bias shift needs BiasAdd first)` };
    return check(n.inputs[2], (v) => ({ kind: 'input', node: n, index: 2, value: v, scale: 1 }));
  }
  const uses = n.outputs[0]?.uses ?? [];
  if (uses.length !== 1 || !['BiasAdd', 'Add', 'AddV2'].includes(uses[0].node.opType)) return { kind: 'none', reason: `the ${n.opType} output is not read by exactly one BiasAdd` };
  const add = uses[0].node;
  return check(add.inputs[1 - uses[0].index], (v) => ({ kind: 'add', node: add, value: v, scale: 1 }));
}

export interface TfjsCollectOptions {
  samples?: number;
  batchSize?: number;
  preprocess?: Partial<PreprocessOptions>;
}

type Loaded = { kind: 'graph'; model: tf.GraphModel } | { kind: 'layers'; model: tf.LayersModel };

/** `model` as stock tfjs loads it from the bytes saveTfjs would write (no disk). */
async function loadTfjsModel(model: Model): Promise<Loaded> {
  const a = encodeTfjs(model);
  const handler: tf.io.IOHandler = {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const total = a.shards.reduce((s, x) => s + x.bytes.byteLength, 0);
      const all = new Uint8Array(total);
      let at = 0;
      for (const x of a.shards) { all.set(x.bytes, at); at += x.bytes.byteLength; }
      const json = JSON.parse(a.modelJson) as tf.io.ModelJSON;
      const artifacts: tf.io.ModelArtifacts = { ...json, weightSpecs: (json.weightsManifest ?? []).flatMap((g) => g.weights), weightData: all.buffer };
      delete (artifacts as { weightsManifest?: unknown }).weightsManifest;
      return artifacts;
    },
  };
  return model.format === 'tfjs-graph'
    ? { kind: 'graph', model: await tf.loadGraphModel(handler) }
    : { kind: 'layers', model: await tf.loadLayersModel(handler) };
}

/**
 * One pass over `data` through stock tfjs, feeding each target layer's input
 * tensor (NHWC / [rows, K] as tfjs holds it) to `sink` under the layer's
 * `input` name. Returns the samples read.
 */
export async function collectTfjsLayerInputs(
  model: Model, layers: readonly ReconstructLayer[], data: Dataset | string, sink: ActivationSink, o: TfjsCollectOptions = {},
): Promise<number> {
  await initTfjs();
  const loaded = await loadTfjsModel(model);
  const byInput = new Map<string, ReconstructLayer>();
  for (const l of layers) if (!byInput.has(l.input)) byInput.set(l.input, l);
  const targets = [...byInput.values()];
  let probe: tf.LayersModel | undefined;
  let specs: InputSpec[];
  if (loaded.kind === 'layers') {
    const m = loaded.model;
    const outs = targets.map((l) => {
      const f = l.tfjs!.fetch;
      const input = m.getLayer('layer' in f ? f.layer : l.input).input;
      if (Array.isArray(input)) throw new InputError(`layer '${l.name}': its Keras layer takes ${input.length} inputs (one only)`);
      return input;
    });
    probe = tf.model({ inputs: m.inputs, outputs: outs });
    specs = m.inputs.map((i) => ({ name: i.sourceLayer.name, dtype: 'float32', shape: i.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null)) }));
  } else {
    specs = loaded.model.inputs.map((i) => ({ name: i.name, dtype: i.dtype === 'int32' ? 'int32' : 'float32', shape: (i.shape ?? []).map((d) => (d >= 0 ? d : null)) }));
  }
  const dataset = typeof data === 'string' ? openDataset(data, { inputs: specs, preprocess: o.preprocess }) : data;
  const { fixedBatch } = validateAgainst(dataset, specs);
  const batchSize = fixedBatch ?? o.batchSize ?? 32;
  let samples = 0;
  try {
    for (const batch of dataset.batches(batchSize, o.samples)) {
      const feeds = specs.map((s) => {
        const t = batch.inputs.get(s.name) ?? (specs.length === 1 ? [...batch.inputs.values()][0] : undefined);
        if (!t) throw new InputError(`the data has no array for input '${s.name}'`, dataset.path);
        const d = t.data;
        return s.dtype === 'int32'
          ? tf.tensor(Int32Array.from(d as ArrayLike<number>, Number), t.shape, 'int32')
          : tf.tensor(d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>, Number), t.shape, 'float32');
      });
      let outs: tf.Tensor[] = [];
      try {
        if (probe) {
          const r = probe.predict(feeds.length === 1 ? feeds[0] : feeds);
          outs = Array.isArray(r) ? r : [r];
        } else {
          const g = (loaded as { model: tf.GraphModel }).model;
          const named: tf.NamedTensorMap = Object.fromEntries(specs.map((s, i) => [s.name, feeds[i]]));
          const fetch = targets.map((l) => (l.tfjs!.fetch as { graph: string }).graph);
          // execute() where the graph allows it: executeAsync on a plain graph warns on stderr every call (as TfjsRunner)
          let r: tf.Tensor | tf.Tensor[];
          try {
            r = g.execute(named, fetch);
          } catch (e) {
            if (!(e instanceof Error && /executeAsync/.test(e.message))) throw e;
            r = await g.executeAsync(named, fetch);
          }
          outs = Array.isArray(r) ? r : [r];
        }
        // a fetched graph input is the feed itself: read everything before disposing
        for (let k = 0; k < targets.length; k++) {
          const t = outs[k];
          sink.observe(targets[k].input, (await t.data()) as Float32Array, [...t.shape]);
        }
      } finally {
        for (const t of new Set([...feeds, ...outs])) t.dispose();
      }
      samples += batch.count;
    }
  } finally {
    loaded.model.dispose();
  }
  return samples;
}
