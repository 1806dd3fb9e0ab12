/**
 * Static int8 QAT around training (`mc finetune --qat --calib`), in two steps that use the
 * static path's own code (pipeline/static.ts):
 *  1. prepareStaticQat, before training, on the float model: the exact rewrites (BatchNormalization
 *     folded into its Conv/Gemm, the small-layer decision, Gemm → MatMul), then one calibration run
 *     of the tensors the QDQ plan needs (collectStatistics + rangesFrom) and the fake-quantization
 *     plan (train/fake-quant-static.ts). Training then trains the folded weights: what is quantized.
 *  2. emitStaticQat, after training: the static QDQ pass (staticQdqPass) on the trained weights with
 *     THE SAME ranges, so the written model computes what training's forward computed.
 *
 * Why the ranges are not re-calibrated after training: training minimised the loss of the network
 * with those clip ranges in it (activations beyond them get no gradient and learn to live inside
 * them); new ranges would give a network nobody trained, and drop the forward-equals-output
 * guarantee. test/train/qat-static.test.ts measures both.
 *
 * The space-to-depth rewrite (only for --target avx512-vnni / arm64) is not applied after QAT.
 */
import { collectStatistics, DEFAULT_BINS, kindOf, openCalibrationData, type TensorRange } from '../calibrate';
import { UsageError } from '../errors';
import type { Model } from '../ir';
import { runPass } from '../passes';
import { formsFor, paddingLines, resolveStaticOptions, staticQdqPass, type PlanOptions, type StaticQdqReport, type StaticQuantizeOptions } from '../passes/quantize/static';
import { planStaticQat, type StaticQatPlan } from '../train/fake-quant-static';
import { VERSION } from '../version';
import { activationRanges, prepareInt8Graph } from './static';

/** What `--qat --calib` asks for. */
export interface StaticQatSettings {
  /** Calibration data (.npy, .npz, image folder, ONNX test-data folder). */
  calib: string;
  options: Partial<StaticQuantizeOptions>;
}

/** The prepared model's plan and ranges, held across training. */
export interface PreparedStaticQat {
  options: StaticQuantizeOptions;
  plan: PlanOptions;
  ranges: Map<string, TensorRange>;
  samples: number;
  qat: StaticQatPlan;
  transformations: string[];
  notes: string[];
}

/** Step 1 (in place): exact rewrites, calibration of the float model, the fake-quantization plan. */
export async function prepareStaticQat(model: Model, s: StaticQatSettings, progress?: (m: string) => void): Promise<PreparedStaticQat> {
  if (model.format !== 'onnx') throw new UsageError('--qat --calib (static int8) needs an ONNX model');
  const options = resolveStaticOptions(s.options);
  if (options.biasCorrection) throw new UsageError('--qat --calib: bias correction shifts biases after training and would break the match with training; leave it off');
  const { dataset, fixedBatch } = openCalibrationData(model, s.calib, options.preprocess);
  const batchSize = fixedBatch ?? options.batchSize;
  const { transformations, small, plan, observed } = await prepareInt8Graph(model, options, dataset, batchSize, VERSION, progress);
  // The small-layer decision is made once, before training, and pinned for the emission (a re-measurement could differ).
  options.smallLayers = [...small.keepFloat.keys()].map((n) => n.name);
  const pinned = small.decision.how === 'measured' ? [`small layers measured on this machine before training: --small-layers ${small.decision.pin} reproduces the decision`] : [];
  const notes: string[] = [...pinned];
  let ranges = new Map<string, TensorRange>();
  let samples = 0;
  if (observed.length) {
    progress?.(`calibrating ${observed.length} tensors of the float model (${options.calibrationMethod})`);
    const stats = await collectStatistics(model, observed, dataset, {
      kinds: [kindOf(options.calibrationMethod)], samples: options.samples, batchSize: options.batchSize, threads: options.threads, preprocess: options.preprocess, bins: DEFAULT_BINS,
    });
    ranges = activationRanges(stats, options);
    samples = stats.samples;
    notes.push(...stats.warnings);
  }
  if (formsFor(options.target).spaceToDepth && options.spaceToDepthPooling !== false) notes.push('--qat: the space-to-depth rewrite is not applied to the trained model');
  const qat = planStaticQat(model, plan, ranges, options);
  notes.push(...qat.notes);
  return { options, plan, ranges, samples, qat, transformations, notes };
}

/** Step 2 (in place): the static QDQ pass on the trained model with the ranges of step 1. */
export function emitStaticQat(model: Model, p: PreparedStaticQat, progress?: (m: string) => void): StaticQdqReport & { transformations: string[] } {
  const r = runPass(staticQdqPass({ options: p.options, plan: p.plan, ranges: p.ranges, samples: p.samples }), model, { toolVersion: VERSION, progress }).changes;
  return { ...r, transformations: [...p.transformations, ...paddingLines(r.padded)] };
}
