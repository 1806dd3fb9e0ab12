/**
 * Quantization-aware training for static int8 (QDQ): `mc finetune --qat --calib`.
 *
 * The float model is prepared and calibrated by the static path's own code first
 * (pipeline/qat-static.ts), and the QDQ plan (passes/quantize/static/plan.ts) says what the
 * static pass will quantize. While training:
 *  - each weight the plan gives an int8 DequantizeLinear runs through dequantize(quantize(w))
 *    of the pass's weight quantizer, in its form (symmetric int8, per output channel, or per
 *    tensor with --per-tensor; emit.ts), with the scales from the current weights (fake-quant.ts);
 *  - each activation the plan puts a QuantizeLinear on runs through
 *    (clamp(round(x / s), qmin − z, qmax − z))·s with that tensor's calibrated scale s and
 *    zero point z (affineParams of the calibrated range, as the pass computes them), which is
 *    ONNX's QuantizeLinear → DequantizeLinear (onnx.ai/onnx/operators: saturate(round(x / s) + z),
 *    round half to even; then (q − z)·s) in float32: MLAS divides by the scale, clamps, rounds
 *    to nearest even and adds z, in that order. The ranges are fixed: the output is emitted
 *    with the same ones (not re-calibrated), so training's forward is the written QDQ graph's.
 *
 *  - each bias the pass writes as int32 runs through round(b / s)·s, s = s_x·s_w[c] (emit.ts's emitBias:
 *    s_x the input's calibrated scale, s_w[c] the current weight's int8 scale, read through the
 *    view's `current`), clipped to ±(2³¹ − 1) as the pass clips it.
 *
 * Gradient: the straight-through estimator with the clip mask of Jacob et al. 2018 (§2.3; ranges
 * fixed here, not learned): dL/dx = dL/dy where qmin − z ≤ x/s ≤ qmax − z, and 0 outside, where the
 * output does not move with x. Weights and biases: the identity (fake-quant.ts: min-max scales clip
 * nothing; an int32 bias never reaches its clip in practice). Scales and ranges get no gradient.
 */
import type { Tensor } from '@tensorflow/tfjs';
import type { WeightView } from './trainable';
import type { TensorRange } from '../calibrate';
import { UsageError } from '../errors';
import type { Model, Value } from '../ir';
import { affineParams, intRange, roundHalfEven } from '../passes/quantize/params';
import { quantizeWeight } from '../passes/quantize/weights';
import { activationRange, planQdq, type PlanOptions, type StaticQuantizeOptions } from '../passes/quantize/static';
import type { T, TF } from '../runtime/executor';
import { fakeQuantViews, type FakeQuantForm } from './fake-quant';
import { trainableParams } from './params';

/** The fixed int8 grid of one activation: its scale (float32, as written) and zero point. */
export interface ActivationGrid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** What static QAT fake-quantizes: weights in their int8 form, activations on their calibrated grid. */
export interface StaticQatPlan {
  weights: Map<Value, FakeQuantForm>;
  activations: Map<Value, ActivationGrid>;
  /** int32 biases: their layer's weight (and its form) and the input's activation scale. */
  biases: Map<Value, { weight: Value; form: FakeQuantForm; inputScale: number }>;
  notes: string[];
}

/**
 * The weights and activations the static QDQ pass will quantize on `model` as it is now (call
 * after the static path's exact rewrites: BatchNormalization folded, Gemm → MatMul), with the
 * grids `ranges` (by tensor name, calibrated on this graph) give them, as emitStaticQdq does.
 */
export function planStaticQat(model: Model, plan: PlanOptions, ranges: ReadonlyMap<string, TensorRange>, options: StaticQuantizeOptions): StaticQatPlan {
  const qdq = planQdq(model.graph, plan);
  const trained = new Set(trainableParams(model));
  const notes: string[] = [];
  const { qmin, qmax } = activationRange(options.activationType);
  const activations = new Map<Value, ActivationGrid>();
  for (const [t, src] of qdq.tensors) {
    const r = ranges.get(src.name);
    if (!r) notes.push(`${src.name}: no calibration data reached it; the pass writes scale 1 and training uses the same grid`);
    const p = affineParams(r?.min ?? 0, r?.max ?? 0, qmin, qmax);
    activations.set(t, { scale: Math.fround(p.scale), zeroPoint: p.zeroPoint, qmin, qmax });
  }
  const weights = new Map<Value, FakeQuantForm>();
  const biases: StaticQatPlan['biases'] = new Map();
  const range = intRange(8, true);
  const once = new Set<Value>();
  for (const op of qdq.ops) {
    if (!op.weight) continue;
    const w = op.weight.value;
    const form: FakeQuantForm = { layout: options.perTensor ? { granularity: 'tensor' } : { granularity: 'channel', axis: op.weight.outAxis }, range };
    if (once.has(w)) { notes.push(`${w.name}: read by more than one quantized op; fake-quantized in the first one's form`); continue; }
    once.add(w);
    if (!trained.has(w)) notes.push(`${w.name}: quantized after training without fake quantization (not a trained weight)`);
    else weights.set(w, form);
    const b = op.bias?.value;
    const x = op.node.inputs[op.activations[0]];
    const grid = x ? activations.get(x) : undefined;
    if (b && grid && trained.has(b) && !biases.has(b)) biases.set(b, { weight: w, form, inputScale: grid.scale });
  }
  if (weights.size === 0 && activations.size === 0) throw new UsageError('--qat --calib: the static pass quantizes nothing in this model; nothing to train for');
  return { weights, activations, biases, notes };
}

/**
 * QuantizeLinear → DequantizeLinear on a fixed grid as a tfjs op, with the clip-masked
 * straight-through gradient (see the header). (round(clamp(x/s)) + z − z)·s = (q − z)·s exactly.
 */
export function fakeQuantActivationOp(tf: TF, g: ActivationGrid): (x: T) => T {
  const lo = g.qmin - g.zeroPoint;
  const hi = g.qmax - g.zeroPoint;
  const op = tf.customGrad((...args) => {
    const x = args[0] as Tensor;
    const save = args[args.length - 1] as (ts: Tensor[]) => void;
    const s = tf.scalar(g.scale, 'float32');
    const u = tf.div(x, s);
    save([u]);
    return {
      value: tf.mul(tf.round(tf.clipByValue(u, lo, hi)), s),
      gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, tf.logicalAnd(tf.greaterEqual(saved[0], lo), tf.lessEqual(saved[0], hi)).cast('float32'))],
    };
  });
  return (x: T) => op(x) as T;
}

const INT32_MAX = 2147483647;

/** The float32 values of the int32 bias the static pass writes for `b` (emit.ts's emitBias) given its layer's weight `w`. */
export function fakeQuantizeBias(b: Float32Array, w: Float32Array, shape: readonly number[], form: FakeQuantForm, inputScale: number, name: string): Float32Array {
  const sw = quantizeWeight(w, shape, form.layout, form.range, name).scales;
  const out = new Float32Array(b.length);
  for (let c = 0; c < b.length; c++) {
    const s = Math.fround(inputScale * sw[sw.length > 1 ? c : 0]);
    const q = Math.max(-INT32_MAX, Math.min(INT32_MAX, roundHalfEven(Math.fround(b[c] / s))));
    out[c] = Math.fround(q * s);
  }
  return out;
}

/** The int32 bias view: its scale read from the layer weight's current value; straight-through gradient. */
function fakeQuantBiasView(tf: TF, b: Value, e: StaticQatPlan['biases'] extends Map<Value, infer E> ? E : never): WeightView {
  const shape = e.weight.const!.shape;
  return (bias: T, current: (v: Value) => T | undefined) => {
    const w = current(e.weight) ?? null;
    const wData = w ? (w.dataSync() as Float32Array) : e.weight.const!.toFloat32();
    const op = tf.customGrad((...args) => {
      const x = args[0] as Tensor;
      return { value: tf.tensor(fakeQuantizeBias(x.dataSync() as Float32Array, wData, shape, e.form, e.inputScale, b.name), x.shape, 'float32'), gradFunc: (dy: Tensor) => [tf.clone(dy)] };
    });
    return op(bias) as T;
  };
}

/** The weight and bias views (in the static pass's int8 / int32 forms) and the activation views of a plan. */
export function staticQatViews(tf: TF, plan: StaticQatPlan): { views: Map<Value, WeightView>; activations: Map<Value, (t: T) => T> } {
  const views = new Map<Value, WeightView>(fakeQuantViews(tf, { forms: plan.weights, notes: [] }));
  for (const [b, e] of plan.biases) views.set(b, fakeQuantBiasView(tf, b, e));
  return { views, activations: new Map([...plan.activations].map(([v, g]) => [v, fakeQuantActivationOp(tf, g)])) };
}

/** The record of static QAT in the output's metadata. */
export function staticQatRecord(options: StaticQuantizeOptions, plan: StaticQatPlan, calib: { data: string; samples: number }): Record<string, unknown> {
  return {
    mode: 'static', bits: 8, calibrationMethod: options.calibrationMethod, ...(options.calibrationMethod === 'percentile' ? { percentile: options.percentile } : {}),
    calibration: calib, granularity: options.perTensor ? 'tensor' : 'channel', activationType: options.activationType,
    ranges: 'calibrated on the float model before training; the output uses the same ranges',
    gradient: 'straight-through: weights identity (min-max scales); activations masked to the fixed clip range (Jacob et al. 2018)',
    fakeQuantizedWeights: [...plan.weights.keys()].map((v) => v.name),
    fakeQuantizedBiases: [...plan.biases.keys()].map((v) => v.name),
    fakeQuantizedActivations: [...plan.activations.keys()].map((v) => v.name),
  };
}
