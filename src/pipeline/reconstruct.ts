/**
 * Weight reconstruction for `mc quantize` (issue 12): GPTQ, RTN with the
 * clipping search, and bias correction, on each layer's real inputs from the
 * sequential schedule (reconstruct-schedule.ts). The result is a set of
 * integer levels per weight in the weight's own layout, on round 1's grid
 * (QuantizeOptions.levels), which the quantize pass writes in round 1's forms
 * (MatMulNBits, DequantizeLinear int4 blocks / int8 per channel): only the
 * integer values (and, with the clip search, the scales) differ. Bias shifts
 * are written into the model's bias constants before the pass.
 *
 * A layer whose H stays singular after dampening is quantized to nearest
 * and named in the report (GPTQ's fallback). Weights the pass quantizes but
 * the schedule cannot feed (Gather tables, tied weights, subgraph weights)
 * are quantized to nearest and listed with the reason.
 */
import type { Dataset, PreprocessOptions } from '../data';
import { defaultOpRegistry, type Model } from '../ir';
import { NotPositiveDefiniteError } from '../linalg';
import { collectStatistics } from '../calibrate';
import { optionsFor, type QuantizeOptions } from '../passes/quantize/options';
import { selectWeights } from '../passes/quantize/select';
import { sqnrDb } from '../passes/quantize/params';
import { quantizeTfjsAffine } from '../passes/quantize/tfjs-affine';
import type { QuantizedWeight } from '../passes/quantize/weights';
import {
  biasCorrection, clipSearch, dequantOf, gptqQuantize, GridOptions, groupOf, quantGrid, tfjsGridUnfit, transposeQuantized,
} from '../passes/reconstruct';
import {
  applyBiasShift, biasSlotOf, findLayers, GramIn, LayerInputSink, LayerInputs, LayerResult, reconstructSequential, ReconstructLayer, SkippedLayer, weightRows, withGram,
} from './reconstruct-schedule';
import { collectTfjsLayerInputs } from './tfjs-layer-inputs';

export interface ReconstructDataOptions {
  /** Calibration inputs (a .npy/.npz/folder path or a Dataset). */
  data: Dataset | string;
  samples?: number;
  batchSize?: number;
  preprocess?: Partial<PreprocessOptions>;
  memoryLimitBytes?: number;
  threads?: number;
  /** Where XᵀX of MatMul/Gemm inputs is computed (default onnxruntime, in-graph). */
  gramIn?: GramIn;
}

export type LayerMethod = 'gptq' | 'clip-search' | 'rtn';

export interface ReconstructLayerReport {
  name: string;
  op: string;
  shape: number[];
  groups: number;
  method: LayerMethod;
  /** GPTQ fell back to round-to-nearest: why (H singular after dampening). */
  fallback?: string;
  /** GPTQ's total loss Σ (w − q)²/[R]ᵢᵢ² (the reference's 'error'), summed over groups. */
  loss?: number;
  /**
   * GPTQ: inputs that were 0 on every calibration sample (H[i,i] = 0); their weights are set to 0, as the
   * reference does, so the weight SQNR can be low while the output on such data is unchanged.
   */
  deadInputs?: number;
  /** Bias correction: the bias written, or why none was. */
  bias?: { name: string } | { skipped: string };
  /** A caution about this layer's H (fewer rows than inputs). */
  note?: string;
  /** Rows of X and samples the layer's H was built from. */
  rows: number;
  samples: number;
}

export interface ReconstructReport {
  /** Passes over the calibration data. */
  passes: number;
  samples: number;
  layers: ReconstructLayerReport[];
  /** Weights the pass quantizes to nearest although reconstruction was asked, with why. */
  skipped: SkippedLayer[];
  seconds: { collect: number; reconstruct: number };
}

interface LayerOutcome extends LayerResult {
  /** The levels to hand to the pass (tfjs: only GPTQ's; the pass rounds the rest itself). */
  weightQ?: QuantizedWeight;
  method: LayerMethod;
  fallback?: string;
  loss?: number;
  dead?: number;
}

/** Round 1's grid options for a layer's weight under the run's (or its override's) settings. */
export function gridFor(layer: ReconstructLayer, o: QuantizeOptions): GridOptions {
  // tfjs: one affine uint8 range per tensor (16 levels at --bits 4), as emitTfjs writes it
  if (layer.tfjs) return { bits: o.bits, symmetric: false, tfjsQmax: o.bits === 4 ? 15 : 255 };
  return {
    bits: o.bits, symmetric: o.symmetric, groupSize: o.granularity === 'block' ? o.blockSize : 0,
    shape: layer.op === 'Conv' ? [layer.rows, ...layer.shape.slice(1)] : undefined,
  };
}

/** Per-layer work: GPTQ, clip search or RTN on one group, then the bias shift. */
function reconstructGroup(options: QuantizeOptions, li: LayerInputs): LayerOutcome {
  const { layer, w, h, mean } = li;
  const { rows, cols, name } = layer;
  const o = optionsFor(options, name);
  const grid = gridFor(layer, o);
  let out: Omit<LayerOutcome, 'biasShift'>;
  if (layer.tfjs) return reconstructTfjs(o, li, grid.tfjsQmax!);
  const rtn = (): Omit<LayerOutcome, 'biasShift' | 'method'> => {
    const g = quantGrid(w, rows, cols, grid, name);
    const weight = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) weight[r * cols + c] = dequantOf(g, groupOf(g, r, c), g.rtn.values[r * cols + c]);
    return { weight, weightQ: g.rtn };
  };
  if (o.method === 'gptq') {
    try {
      const r = gptqQuantize(w, rows, cols, h, { ...grid, actOrder: o.actOrder, percdamp: o.damp ?? 0.01, blockSize: o.gptqBlock ?? 128, name });
      out = { weight: r.dequantized, weightQ: r.weight, method: 'gptq', loss: r.loss, dead: r.deadColumns.length };
    } catch (e) {
      if (!(e instanceof NotPositiveDefiniteError)) throw e;
      out = { ...rtn(), method: 'rtn', fallback: `H is not positive definite after dampening (${e.message}): quantized to nearest` };
    }
  } else if (o.clipSearch) {
    const r = clipSearch(w, rows, cols, h, { ...grid, name });
    out = { weight: r.dequantized, weightQ: r.weight, method: 'clip-search' };
  } else {
    out = { ...rtn(), method: 'rtn' };
  }
  const biasShift = o.biasCorrection && biasSlotOf(layer).kind !== 'none' ? biasCorrection(w, out.weight, rows, cols, mean) : undefined;
  return { ...out, biasShift };
}

/**
 * A tfjs layer (one group, one range per tensor): GPTQ on tfjs' own grid, or
 * round 1's levels. The dequantized weight the next layers see is what tfjs
 * decodes, float32(q·scale + min) with the float64 min and scale of the
 * manifest. Levels are handed to the pass only from GPTQ (weightQ undefined
 * otherwise: the pass quantizes to nearest itself, the same bytes).
 */
function reconstructTfjs(o: ReturnType<typeof optionsFor>, li: LayerInputs, qmax: 15 | 255): LayerOutcome {
  const { layer, w, h, mean } = li;
  const { rows, cols, name } = layer;
  const r1 = quantizeTfjsAffine(w, qmax, name);
  const decode = (q: ArrayLike<number>): Float32Array => {
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < out.length; i++) out[i] = q[i] * r1.scale + r1.min;
    return out;
  };
  const bias = (weight: Float32Array): Float64Array | undefined =>
    (o.biasCorrection && biasSlotOf(layer).kind !== 'none' ? biasCorrection(w, weight, rows, cols, mean) : undefined);
  const rtn = (fallback?: string): LayerOutcome => {
    const weight = decode(r1.stored);
    return { weight, weightQ: undefined, method: 'rtn', fallback, biasShift: bias(weight) };
  };
  if (o.method !== 'gptq') return rtn(o.clipSearch ? 'clip search changes the scale, and tfjs stores one range per tensor that round 1 fixes: quantized to nearest' : undefined);
  const unfit = tfjsGridUnfit(w);
  if (unfit) return rtn(`${unfit}: quantized to nearest`);
  try {
    const r = gptqQuantize(w, rows, cols, h, { bits: o.bits, symmetric: false, tfjsQmax: qmax, actOrder: o.actOrder, percdamp: o.damp ?? 0.01, blockSize: o.gptqBlock ?? 128, name });
    const weight = decode(r.weight.values);
    return { weight, weightQ: r.weight, method: 'gptq', loss: r.loss, dead: r.deadColumns.length, biasShift: bias(weight) };
  } catch (e) {
    if (!(e instanceof NotPositiveDefiniteError)) throw e;
    return rtn(`H is not positive definite after dampening (${e.message}): quantized to nearest`);
  }
}

/** The groups' results joined into one QuantizedWeight in W orientation, then laid out as the weight is stored. */
function storedLevels(layer: ReconstructLayer, parts: readonly QuantizedWeight[], w: Float32Array, wq: Float32Array): QuantizedWeight {
  const join = <T extends Int8Array | Uint8Array | Float32Array>(xs: T[]): T => {
    const out = new (xs[0].constructor as new (n: number) => T)(xs.reduce((s, x) => s + x.length, 0));
    let o = 0;
    for (const x of xs) { out.set(x, o); o += x.length; }
    return out;
  };
  const first = parts[0];
  const scaleShape = first.scaleShape.length ? [first.scaleShape[0] * parts.length, ...first.scaleShape.slice(1)] : [];
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < w.length; i++) { signal += w[i] * w[i]; noise += (w[i] - wq[i]) ** 2; }
  const joined: QuantizedWeight = {
    ...first, values: join(parts.map((p) => p.values)), scales: join(parts.map((p) => p.scales)),
    zeroPoints: join(parts.map((p) => p.zeroPoints)), scaleShape, sqnrDb: sqnrDb(signal, noise),
  };
  const transposed = layer.tfjs ? layer.tfjs.transposed : layer.op === 'MatMul' || (layer.op === 'Gemm' && layer.node.attrInt('transB', 0) !== 1);
  return transposed ? transposeQuantized(joined, layer.rows, layer.cols) : joined;
}

/**
 * Computes the levels (and bias shifts, written into `model`) for every weight
 * the quantize pass takes whose settings ask for reconstruction; returns the
 * options with `levels` set, and the report.
 */
export async function reconstructForQuantize(
  model: Model, options: QuantizeOptions, d: ReconstructDataOptions, progress: (m: string) => void = () => {},
): Promise<{ options: QuantizeOptions; report: ReconstructReport; layers: ReconstructLayer[]; dequantized: Map<string, Float32Array> }> {
  const wanted = new Set<string>();
  const skipped: SkippedLayer[] = [];
  for (const [v, sel] of selectWeights(model, defaultOpRegistry, options, [])) {
    const o = optionsFor(options, v.name);
    // an explicit method 'rtn' goes through too (same bytes as the plain pass: tested), so a recipe's per-weight RTN stays RTN
    if (o.method === undefined && !o.clipSearch && !o.biasCorrection) continue;
    if (sel.owner !== model.graph) skipped.push({ name: v.name, reason: 'a weight inside a subgraph (its inputs are not main-graph tensors): quantized to nearest' });
    else wanted.add(v.name);
  }
  const found = findLayers(model, wanted);
  skipped.push(...found.skipped.map((s) => ({ name: s.name, reason: `${s.reason}: quantized to nearest` })));
  const isLayer = new Set(found.layers.map((l) => l.name));
  const readers = new Map<string, string>();
  for (const n of model.graph.nodes) for (const v of n.inputs) if (v && wanted.has(v.name) && !readers.has(v.name)) readers.set(v.name, n.opType);
  for (const name of wanted) {
    if (!isLayer.has(name) && !found.skipped.some((s) => s.name === name)) {
      skipped.push({ name, reason: `read by ${readers.get(name) ?? 'no node'}, not as the weight of a MatMul, Gemm or Conv whose input the schedule reads (layer inputs are built for those): quantized to nearest` });
    }
  }
  const originals = new Map(found.layers.map((l) => [l.name, Float32Array.from(l.node.inputs[1]!.const!.toFloat32())]));
  const sched = await reconstructSequential<LayerOutcome>(model, found.layers, d.data, (li) => reconstructGroup(options, li), {
    samples: d.samples, batchSize: d.batchSize, preprocess: d.preprocess, memoryLimitBytes: d.memoryLimitBytes, threads: d.threads, gramIn: d.gramIn, progress,
  });
  const levels = new Map(options.levels ?? []);
  const dequantized = new Map<string, Float32Array>();
  const layers: ReconstructLayerReport[] = [];
  for (const { layer, results, rowsSeen, samples } of sched.layers) {
    const orig = originals.get(layer.name)!;
    const w = join32(Array.from({ length: layer.groups }, (_, g) => weightRows(layer, orig, g)));
    const wq = join32(results.map((r) => r.weight));
    if (results.every((r) => r.weightQ)) levels.set(layer.name, storedLevels(layer, results.map((r) => r.weightQ!), w, wq));
    dequantized.set(layer.name, wq);
    const fallbacks = results.map((r) => r.fallback).filter((f): f is string => f !== undefined);
    const rep: ReconstructLayerReport = {
      name: layer.name, op: layer.op, shape: layer.shape, groups: layer.groups, method: results.some((r) => r.method === 'gptq') ? 'gptq' : results[0].method,
      rows: rowsSeen, samples,
    };
    if (rowsSeen < layer.cols) {
      rep.note = `H from ${rowsSeen} input rows for ${layer.cols} inputs (rank at most ${rowsSeen}): GPTQ can fit the calibration rows; more calibration samples make it generalise`;
    }
    if (fallbacks.length) rep.fallback = fallbacks.length === results.length ? fallbacks[0] : `${fallbacks.length} of ${results.length} groups: ${fallbacks[0]}`;
    if (results.some((r) => r.loss !== undefined)) rep.loss = results.reduce((s, r) => s + (r.loss ?? 0), 0);
    const dead = results.reduce((s, r) => s + (r.dead ?? 0), 0);
    if (dead) rep.deadInputs = dead;
    if (optionsFor(options, layer.name).biasCorrection) {
      const shift = new Float64Array(layer.rows * layer.groups);
      results.forEach((r, g) => { if (r.biasShift) shift.set(r.biasShift, g * layer.rows); });
      const b = applyBiasShift(model, layer, shift);
      rep.bias = 'bias' in b ? { name: b.bias } : { skipped: b.reason };
    }
    layers.push(rep);
  }
  return {
    options: { ...options, levels },
    report: { passes: sched.passes, samples: layers[0]?.samples ?? 0, layers, skipped, seconds: sched.seconds },
    layers: found.layers,
    dequantized,
  };
}

function join32(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const x of xs) { out.set(x, o); o += x.length; }
  return out;
}

/**
 * Each layer's H on other data, from the model as given (one pass, no
 * schedule): what held-out output errors are measured with. Per layer, one
 * H per group.
 */
export async function layerHessians(
  model: Model, layers: readonly ReconstructLayer[], data: Dataset | string, o: { samples?: number; batchSize?: number; gramIn?: GramIn } = {},
): Promise<Map<string, Float64Array[]>> {
  // the schedule's sink: layers reading the same input share one accumulator
  const tfjs = model.format !== 'onnx';
  const run = !tfjs && (o.gramIn ?? 'onnxruntime') === 'onnxruntime' ? withGram(model, layers) : { model, grams: new Map() };
  const sink = new LayerInputSink(layers, run.grams);
  if (tfjs) await collectTfjsLayerInputs(model, layers, data, sink, { samples: o.samples, batchSize: o.batchSize });
  else await collectStatistics(run.model, [], data, { kinds: [], sinks: [sink], samples: o.samples, batchSize: o.batchSize, observeIn: 'main' });
  return new Map(layers.map((l) => [l.name, sink.accumulators(l).map((x) => x.hessian())]));
}

/** ‖(W − Ŵ)X‖² up to H's factor 2/N: Σ_r Δ_r·H·Δ_rᵀ for one group's rows ([rows, cols], W orientation). */
export function outputError(w: ArrayLike<number>, wq: ArrayLike<number>, rows: number, cols: number, h: Float64Array): number {
  let e = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c] - wq[r * cols + c];
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < cols; j++) s += h[i * cols + j] * d[j];
      e += d[i] * s;
    }
  }
  return e;
}
