/**
 * Bias correction for static int8 (issue 12: "This works for static int8 as
 * well"; Nagel et al. 2019 §4.2, empirical form). The static QDQ pass writes
 * each planned weight as int8 symmetric per output channel (or per tensor),
 * Ŵ = q·s; this shifts the layer's float bias by (W − Ŵ)·E[x] per output
 * channel before the pass, so the int32 bias the emitter computes
 * (static/emit.ts: q_b = round(b / (s_x·s_w))) is the corrected one; a MatMul
 * whose bias is a following float Add (Gemm → MatMul) gets that Add's
 * constant shifted; a Conv without a bias gets one (Conv allows it), which the
 * pass then quantizes like any other. Ŵ is computed with the pass's own
 * quantizer and layout (quantizeWeight, intRange(8, symmetric)), so it is the
 * weight the file will hold.
 *
 * E[x] is the mean im2col row (a Conv, per group, padding zeros included) or
 * the mean input row (MatMul/Gemm) over the calibration data, collected by an
 * ActivationSink in the same onnxruntime run as the activation statistics.
 * The activation ranges are those of the uncorrected float model (the shift is
 * what the quantized model loses on average, so the ranges it is calibrated
 * for are the float ones).
 */
import { InputError } from '../errors';
import type { Model } from '../ir';
import type { ActivationSink } from '../calibrate';
import { biasCorrection, im2colRows } from '../passes/reconstruct';
import { intRange } from '../passes/quantize/params';
import { quantizeWeight, type WeightLayout } from '../passes/quantize/weights';
import { planQdq, type PlanOptions } from '../passes/quantize/static/plan';
import { applyBiasShift, findLayers, weightRows, type ReconstructLayer } from './reconstruct-schedule';

/** Per layer and group, the running column sums of its input rows (E[x] without H). */
export class LayerMeanSink implements ActivationSink {
  readonly tensors: string[];
  private readonly sums = new Map<ReconstructLayer, Float64Array[]>();
  private readonly rows = new Map<ReconstructLayer, number>();
  private readonly readers = new Map<string, ReconstructLayer[]>();

  constructor(readonly layers: readonly ReconstructLayer[]) {
    for (const l of layers) {
      this.sums.set(l, Array.from({ length: l.groups }, () => new Float64Array(l.cols)));
      this.rows.set(l, 0);
      this.readers.set(l.input, [...(this.readers.get(l.input) ?? []), l]);
    }
    this.tensors = [...this.readers.keys()];
  }

  observe(name: string, data: Float32Array, shape: readonly number[]): void {
    for (const l of this.readers.get(name) ?? []) {
      const sums = this.sums.get(l)!;
      if (l.op === 'Conv') {
        if (shape.length !== l.shape.length) throw new InputError(`layer '${l.name}': Conv input '${name}' has shape [${shape.join(', ')}], not the rank of its weight`);
        const x = im2colRows(data, (shape.length === 3 ? [shape[0], shape[1], 1, shape[2]] : shape) as [number, number, number, number], l.conv!);
        x.groups.forEach((g, gi) => addRows(sums[gi], g, x.rows, l.cols));
        this.rows.set(l, this.rows.get(l)! + x.rows);
        continue;
      }
      const k = l.cols;
      if (data.length % k !== 0) throw new InputError(`layer '${l.name}': input '${name}' has shape [${shape.join(', ')}], not rows of the weight's ${k} inputs`);
      if (l.op === 'Gemm' && l.transA) {
        const m = data.length / k;
        for (let i = 0; i < k; i++) { let s = 0; for (let j = 0; j < m; j++) s += data[i * m + j]; sums[0][i] += s; }
        this.rows.set(l, this.rows.get(l)! + m);
        continue;
      }
      addRows(sums[0], data, data.length / k, k);
      this.rows.set(l, this.rows.get(l)! + data.length / k);
    }
  }

  /** Whether any input was observed (a run fed this sink). */
  fed(): boolean {
    return [...this.rows.values()].some((n) => n > 0);
  }

  /** E[x] per column of one group. */
  mean(l: ReconstructLayer, group: number): Float64Array {
    const n = this.rows.get(l)!;
    return Float64Array.from(this.sums.get(l)![group], (s) => (n ? s / n : 0));
  }
}

function addRows(sum: Float64Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0, o = r * cols; c < cols; c++) sum[c] += x[o + c];
}

export interface StaticBiasTargets {
  layers: { layer: ReconstructLayer; outAxis: number }[];
  sink: LayerMeanSink;
  /** Planned int8 weights whose bias cannot be corrected, with why. */
  skipped: { name: string; reason: string }[];
}

/** The layers the static pass will give int8 weights (its own plan), with a sink for their E[x]. */
export function staticBiasTargets(model: Model, plan: PlanOptions): StaticBiasTargets {
  const ops = planQdq(model.graph, plan).ops.filter((o) => o.weight);
  const axis = new Map(ops.map((o) => [o.weight!.value.name, o.weight!.outAxis]));
  const found = findLayers(model, new Set(axis.keys()));
  const layers = found.layers.map((layer) => ({ layer, outAxis: axis.get(layer.name)! }));
  const skipped = found.skipped.map((s) => ({ name: s.name, reason: s.reason }));
  for (const name of axis.keys()) if (!found.layers.some((l) => l.name === name) && !skipped.some((s) => s.name === name)) skipped.push({ name, reason: 'not a MatMul/Gemm/Conv weight whose input the sink reads' });
  return { layers, sink: new LayerMeanSink(layers.map((l) => l.layer)), skipped };
}

/**
 * Shifts each target's bias by (W − Ŵ)·E[x] with Ŵ the pass's int8 weight;
 * returns one line per layer (the bias written, or why none was).
 */
export function applyStaticBiasCorrection(model: Model, t: StaticBiasTargets, perTensor: boolean): { corrected: string[]; skipped: { name: string; reason: string }[] } {
  const corrected: string[] = [];
  const skipped = [...t.skipped];
  for (const { layer, outAxis } of t.layers) {
    const tensor = layer.node.inputs[1]!.const!;
    const w = tensor.toFloat32();
    const layout: WeightLayout = perTensor ? { granularity: 'tensor' } : { granularity: 'channel', axis: outAxis };
    const q = quantizeWeight(w, tensor.shape, layout, intRange(8, true), layer.name);
    const wq = dequantize(q.values, q.scales, tensor.shape, layout);
    const shift = new Float64Array(layer.rows * layer.groups);
    for (let g = 0; g < layer.groups; g++) {
      shift.set(biasCorrection(weightRows(layer, w, g), weightRows(layer, wq, g), layer.rows, layer.cols, t.sink.mean(layer, g)), g * layer.rows);
    }
    const b = applyBiasShift(model, layer, shift);
    if ('bias' in b) corrected.push(layer.name);
    else skipped.push({ name: layer.name, reason: b.reason });
  }
  return { corrected, skipped };
}

/** float32(q·s) (symmetric: zero point 0) in the weight's own layout. */
function dequantize(values: Int8Array | Uint8Array, scales: Float32Array, shape: readonly number[], layout: WeightLayout): Float32Array {
  const out = new Float32Array(values.length);
  if (layout.granularity === 'tensor') {
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(values[i] * scales[0]);
    return out;
  }
  const axis = layout.axis;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const d = shape[axis];
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(values[i] * scales[Math.floor(i / inner) % d]);
  return out;
}
