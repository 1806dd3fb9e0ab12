/**
 * Quantization-aware training (QAT): the weights that `mc quantize` will take run through
 * fake quantization during training, so the network learns weights whose rounded values
 * work, and the output is then written by the quantize pass itself from the trained floats.
 *
 * Exactness. The forward value of a weight is dequantizeWeight(quantizeWeight(w)) of the
 * quantize pass (passes/quantize/weights.ts), in the layout and integer range that the pass
 * plans for that weight (plannedWeightForms: the same selection, backup precision, form
 * choice — MatMulNBits blocks or DequantizeLinear per channel / block — and rounding), with
 * the scales computed from the current weights at every step. So a weight fake-quantized
 * after the last step equals, bit for bit, what DequantizeLinear / MatMulNBits computes from
 * the written model (test/train/qat.test.ts checks this on the written files).
 *
 * Gradient: the straight-through estimator (Bengio et al. 2013; Jacob et al. 2018), dL/dw =
 * dL/dŵ everywhere. No clip mask: the scales are min-max (symmetric max|w|/qmax, or the
 * min/max range widened to 0), so no weight of the group lies outside its clip range and a
 * mask would be all ones. Scales get no gradient (they are recomputed from the weights,
 * as the pass computes them; nothing about them is learned).
 */
import type { Tensor } from '@tensorflow/tfjs';
import { UsageError } from '../errors';
import type { Model, Value } from '../ir';
import { withBackup, type BackupBits } from '../passes/quantize/backup';
import type { QuantizeOptions } from '../passes/quantize/options';
import type { IntRange } from '../passes/quantize/params';
import { plannedWeightForms } from '../passes/quantize/quantize-pass';
import { dequantizeWeight, quantizeWeight, type WeightLayout } from '../passes/quantize/weights';
import type { T, TF } from '../runtime/executor';
import { trainableParams } from './params';

/** The integer form of one weight: its layout (tensor / channel / block) and integer range. */
export interface FakeQuantForm {
  layout: WeightLayout;
  range: IntRange;
}

/** What `mc finetune --qat` asks for: the quantize run that writes the output, and its backup precision. */
export interface QatSettings {
  quantize: QuantizeOptions;
  backupBits: BackupBits;
}

/** Which trained weights are fake-quantized, in which form, and what is not (notes). */
export interface QatPlan {
  forms: Map<Value, FakeQuantForm>;
  notes: string[];
}

/** The float32 values the quantized form of `w` stands for: dequantize(quantize(w)) of the quantize pass. */
export function fakeQuantize(w: Float32Array, shape: readonly number[], form: FakeQuantForm, name: string): Float32Array {
  return dequantizeWeight(quantizeWeight(w, shape, form.layout, form.range, name), shape);
}

/** Fake quantization as a tfjs op with the straight-through gradient (see the header). */
export function fakeQuantOp(tf: TF, shape: readonly number[], form: FakeQuantForm, name: string): (w: T) => T {
  const op = tf.customGrad((...args) => {
    const w = args[0] as Tensor;
    return {
      value: tf.tensor(fakeQuantize(w.dataSync() as Float32Array, shape, form, name), w.shape, 'float32'),
      gradFunc: (dy: Tensor) => [tf.clone(dy)],
    };
  });
  return (w: T) => op(w) as T;
}

/**
 * The weights `quantize` (with `backupBits` laid over it) will take and that training trains,
 * each with the one form the pass will write. A weight the pass writes in two forms (two
 * consumers wanting different layouts) or that training does not train is left out of the
 * fake quantization and named in the notes; the pass still quantizes it to nearest.
 */
export function planQat(model: Model, qat: QatSettings): QatPlan {
  if (model.format !== 'onnx') throw new UsageError('--qat trains ONNX models (the quantized forms are ONNX\'s DequantizeLinear / MatMulNBits); convert the model first');
  if (qat.quantize.mode !== 'weight') throw new UsageError('--qat writes weight-only forms (--mode weight)');
  const opts = withBackup(model, qat.quantize, { bits: qat.backupBits }).options;
  const trained = new Set(trainableParams(model));
  const forms = new Map<Value, FakeQuantForm>();
  const notes: string[] = [];
  for (const [v, fs] of plannedWeightForms(model, opts)) {
    if (!trained.has(v)) notes.push(`${v.name}: quantized after training without fake quantization (not a trained weight)`);
    else if (fs.length !== 1) notes.push(`${v.name}: quantized after training without fake quantization (written in ${fs.length} forms for its consumers)`);
    else forms.set(v, fs[0]);
  }
  if (forms.size === 0) throw new UsageError('--qat: none of the weights the quantize settings take is trained; nothing to train for');
  return { forms, notes };
}

/** The fake-quantization ops of a plan, keyed by weight: what Trainable applies to its variables. */
export function fakeQuantViews(tf: TF, plan: QatPlan): Map<Value, (w: T) => T> {
  return new Map([...plan.forms].map(([v, f]) => [v, fakeQuantOp(tf, v.const!.shape, f, v.name)]));
}

/** The record of the QAT settings in the output's metadata. */
export function qatRecord(qat: QatSettings, plan: QatPlan): Record<string, unknown> {
  const q = qat.quantize;
  return {
    bits: q.bits, granularity: q.granularity, ...(q.granularity === 'block' ? { blockSize: q.blockSize } : {}),
    symmetric: q.symmetric, ...(q.bits === 4 ? { int4Format: q.int4Format } : {}), backupBits: qat.backupBits,
    ...(q.exclude.length ? { exclude: [...q.exclude] } : {}), ...(q.opTypes ? { opTypes: [...q.opTypes] } : {}),
    gradient: 'straight-through (identity; min-max scales, no clip mask)',
    fakeQuantized: [...plan.forms.keys()].map((v) => v.name),
  };
}
