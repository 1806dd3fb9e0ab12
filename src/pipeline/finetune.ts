/**
 * Fine-tune a model file: load → open the training data (and the teacher) → train on
 * the differentiable executor (ONNX) or stock tfjs (layers-model) → write the trained
 * weights back into the IR → onnxruntime load check → atomic write. Nothing is written
 * when a step fails (a NaN loss included), and the input model is never touched.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { openDataset, openLabels, validateAgainst, type InputSpec } from '../data';
import { InputError, UsageError } from '../errors';
import { loadModel, modelFiles } from '../formats';
import { defaultOpRegistry, type Model, type Value } from '../ir';
import { PRUNE_DEFAULTS, type Scope } from '../passes/prune';
import { useGradientBackend } from '../runtime/executor';
import type { T } from '../runtime/executor';
import { fit, openPredictor, openTrainable, recalibrateBatchNorm, trainingOutput, TrainingSet, type FitOptions, type FitResult, type BnMode, type LossKind, type Predictor, type StepInfo, type TrainingOutput } from '../train';
import { VERSION } from '../version';
import { fakeQuantViews, planQat, qatRecord, type QatSettings } from '../train/fake-quant';
import type { QuantizeReport } from '../passes';
import { liftNotes, liftWeights, quantizeModel } from './quantize';
import { emitStaticQat, prepareStaticQat, type StaticQatSettings } from './qat-static';
import { staticQatRecord, staticQatViews } from '../train/fake-quant-static';
import type { StaticQdqReport } from '../passes/quantize/static';
import { checkOutputPath, defaultOutputPath, writeOutput, type WrittenOutput } from './output';

export interface FinetuneSettings extends Omit<FitOptions, 'validation' | 'onStep' | 'loss'> {
  loss: LossKind;
  temperature: number;
  /** kd+ce: the weight of the distillation term (default 0.5). */
  alpha?: number;
  /** Use at most this many training samples (default: all). */
  samples?: number;
  /** ONNX: re-estimate BatchNormalization statistics on the training data first (adaptive BN; default false). */
  bnRecalibrate?: boolean;
  /**
   * ONNX BatchNormalization while training: 'frozen' (default) keeps the stored statistics; 'train' normalizes
   * each batch with its own and updates the running statistics with the node's momentum (train/batchnorm-train.ts).
   */
  bnMode?: BnMode;
  /**
   * Gradual magnitude pruning while training (Zhu & Gupta 2017): global over the layer weights
   * (Conv/Gemm weights, MatMul constants; Keras kernels), from `initial` to `final` sparsity,
   * re-pruned every `frequency` steps until `end` (a fraction of all steps).
   */
  prune?: { final: number; initial: number; frequency: number; end: number; scope?: Scope; minDensity?: number };
  /**
   * Quantization-aware training (train/fake-quant.ts): the weights these quantize settings take are
   * fake-quantized while training, and the output is written by the quantize pass in its forms.
   */
  qat?: QatSettings;
  /**
   * Static int8 QAT (`--qat --calib`, train/fake-quant-static.ts, pipeline/qat-static.ts): the float model is
   * calibrated first, weights and activations are fake-quantized on that grid while training, and the output
   * is written by the static QDQ pass with the same ranges.
   */
  qatStatic?: StaticQatSettings;
}

/** Indices of the trained weights that are layer weights (not biases, norms): what gradual pruning prunes. */
function layerWeightIndices(params: readonly Value[], format: Model['format']): number[] {
  const out: number[] = [];
  params.forEach((v, i) => {
    const isWeight = format === 'onnx'
      ? v.uses.some((u) => (u.node.opType === 'Conv' || u.node.opType === 'Gemm' ? u.index === 1 : u.node.opType === 'MatMul'))
      : format === 'tfjs-graph'
        ? v.uses.some((u) => defaultOpRegistry.get(u.node)?.weights.some((w) => w.input === u.index && w.role === 'weight'))
        : /kernel$/.test(v.name);
    if (isWeight) out.push(i);
  });
  return out;
}

export interface FinetuneFileOptions {
  input: string;
  output?: string;
  data: string;
  labels?: string;
  /** Default: the input model as given, before training. */
  teacher?: string;
  valData?: string;
  valLabels?: string;
  settings: FinetuneSettings;
  force: boolean;
  progress?: (message: string) => void;
  onStep?: (s: StepInfo) => void;
}

export interface FinetuneFileResult {
  input: string;
  output: string;
  teacher: { path: string; sha256: string };
  samples: number;
  engine: string;
  training: FitResult;
  settings: FinetuneSettings;
  written: WrittenOutput;
  notes: string[];
  /** --qat: the quantize pass's report on the trained weights. */
  quantize?: QuantizeReport;
  /** --qat --calib: the static QDQ pass's report on the trained model. */
  staticQuantize?: StaticQdqReport & { transformations: string[] };
}

/** sha256 over a model's files (model.json then its shards, or the .onnx and its external data), in modelFiles order. */
export function modelSha256(path: string): string {
  const h = createHash('sha256');
  for (const f of modelFiles(path)) h.update(fs.readFileSync(f));
  return h.digest('hex');
}

function inputSpecs(model: Model): InputSpec[] {
  return model.graph.inputs.filter((v) => !v.const).map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] }));
}

/**
 * `mc finetune`'s defaults, for the callers that fill them themselves (a recipe's finetune step).
 * Gradual pruning: re-prune every 100 steps (tfmot PolynomialDecay's frequency), global scope
 * with the one-shot pass's per-layer floor (--min-density 0.05).
 */
export const FINETUNE_DEFAULTS = {
  loss: 'kd', temperature: 2, alpha: 0.5, epochs: 1, batchSize: 32, optimizer: 'adam', momentum: 0.9, weightDecay: 0,
  lr: 1e-3, schedule: 'cosine', warmup: 0.05, seed: 0, bnMode: 'frozen',
  initialSparsity: 0, pruneFrequency: 100, pruneEnd: 0.75, pruneScope: 'global',
} as const;

/** Combinations with no meaning (flag names; a recipe reader drops the dashes). */
export function checkFinetuneSettings(s: FinetuneSettings, o: Pick<FinetuneFileOptions, 'labels' | 'valData' | 'valLabels'>): void {
  checkSettings(s, o);
  const p = s.prune;
  if (p && !(p.final > p.initial)) throw new UsageError(`--prune-to (${p.final}) must be above --initial-sparsity (${p.initial})`);
}

function checkSettings(s: FinetuneSettings, o: Pick<FinetuneFileOptions, 'labels' | 'valData' | 'valLabels'>): void {
  if ((s.loss === 'ce' || s.loss === 'kd+ce') && !o.labels) throw new UsageError(`--loss ${s.loss} needs --labels`);
  if ((o.valData === undefined) !== (o.valLabels === undefined)) throw new UsageError('--val-data and --val-labels go together');
  if (s.earlyStop !== undefined && !o.valData) throw new UsageError('--early-stop needs --val-data and --val-labels');
  if (s.schedule === 'plateau' && !o.valData) throw new UsageError('--schedule plateau reduces on the validation metric: give --val-data and --val-labels');
}

export async function finetuneFile(o: FinetuneFileOptions): Promise<FinetuneFileResult> {
  const progress = o.progress ?? (() => {});
  const s = o.settings;
  checkSettings(s, o);
  const output = o.output ?? defaultOutputPath(o.input, s.qat ? `qat-int${s.qat.quantize.bits}` : s.qatStatic ? 'qat-int8' : 'finetuned');
  checkOutputPath(o.input, output, o.force);
  progress('loading');
  const model = loadModel(o.input);
  const teacherPath = o.teacher ?? o.input;
  const sha256 = modelSha256(teacherPath);
  const r = await finetuneModel(model, { ...o, teacher: o.teacher === undefined ? undefined : loadModel(o.teacher), teacherLabel: teacherPath });
  stampTraining(model, { settings: r.qat ? { ...s, qatStatic: undefined, qat: r.qat } : s, teacher: { path: teacherPath, sha256 }, samples: r.samples, steps: r.training.steps, lr: r.training.lr, epochs: r.training.epochs.length, lossReads: r.lossReads });
  const written = await writeOutput(model, { input: o.input, output, force: o.force, verify: true, gzip: false, progress });
  return { input: o.input, output, teacher: { path: teacherPath, sha256 }, samples: r.samples, engine: r.engine, training: r.training, settings: s, written, notes: [...r.notes, ...written.notes], quantize: r.quantize, staticQuantize: r.staticQuantize };
}

export interface FinetuneModelOptions {
  data: string;
  labels?: string;
  /** The model to distil from; default: `model` as given, before training. */
  teacher?: Model;
  /** Names the teacher in errors (its path). */
  teacherLabel: string;
  valData?: string;
  valLabels?: string;
  settings: FinetuneSettings;
  progress?: (message: string) => void;
  onStep?: (s: StepInfo) => void;
  /** QAT: write the output when the quantize pass leaves weights float (as mc quantize --allow-partial); default: refuse. */
  allowPartial?: boolean;
}

export interface FinetuneModelResult {
  samples: number;
  engine: string;
  training: FitResult;
  notes: string[];
  /** --qat: the quantize pass's report on the trained weights (the model is then quantized in place). */
  quantize?: QuantizeReport;
  /** --qat --calib: the static QDQ pass's report on the trained model (quantized in place). */
  staticQuantize?: StaticQdqReport & { transformations: string[] };
  /** --qat: the settings as recorded in the metadata. */
  qat?: Record<string, unknown>;
  /** --qat --calib: the calibration before training (samples, seconds) and the small layers it kept float (pinned). */
  staticCalibration?: { samples: number; batchSize: number; seconds: number; smallLayers: string[] };
  /** What the loss read of the student and the teacher (train/outputs.ts). */
  lossReads: { student: TrainingOutput['reads']; teacher: TrainingOutput['reads'] | null };
}

/**
 * Trains `model` in place (the weights written back into its IR constants): the engine
 * behind `mc finetune` and a recipe's finetune step. Opens nothing but the data files.
 */
export async function finetuneModel(model: Model, o: FinetuneModelOptions): Promise<FinetuneModelResult> {
  const progress = o.progress ?? (() => {});
  const s = o.settings;
  checkSettings(s, o);
  // ONNX: weight-holding Constant nodes become initializers first (paddle2onnx writes every weight as one),
  // as mc prune and mc quantize do, so training and QAT see every weight.
  const lifted = model.format === 'onnx' ? liftNotes(liftWeights(model)) : [];
  if (s.qat && s.qatStatic) throw new UsageError('--qat: weight-only settings and --calib (static int8) exclude each other');
  const qat = s.qat ? planQat(model, s.qat) : null;
  const calibStart = Date.now();
  const staticQat = s.qatStatic ? await prepareStaticQat(model, s.qatStatic, progress) : null;
  const calibSeconds = (Date.now() - calibStart) / 1000;
  const engine = await useGradientBackend(tf, 'wasm');
  const specs = inputSpecs(model);
  const open = (path: string) => {
    const d = openDataset(path, { inputs: specs });
    validateAgainst(d, specs);
    return d;
  };
  const train = TrainingSet.load(open(o.data), o.labels ? openLabels(o.labels) : undefined, s.samples);
  const val = o.valData ? TrainingSet.load(open(o.valData), openLabels(o.valLabels!)) : undefined;
  const notes: string[] = [...lifted, ...(qat ? qat.notes : []), ...(staticQat ? [...staticQat.transformations, ...staticQat.notes] : [])];
  const needsTeacher = s.loss !== 'ce';
  // The model as given (copy-on-write clone), for the default teacher when statistics change below.
  const asGiven = model.format === 'onnx' && s.bnRecalibrate === true && needsTeacher && !o.teacher ? model.clone() : null;
  if (model.format === 'onnx' && s.bnRecalibrate === true) {
    progress('re-estimating BatchNormalization statistics');
    const done = recalibrateBatchNorm(tf, model, train, s.batchSize);
    if (done.length) notes.push(`BatchNormalization statistics re-estimated on the training data before training (${done.length} node(s))`);
  }
  // Without a teacher of its own, a tfjs layers-model distils from a clone of itself as given.
  const tfjsTeacher = needsTeacher && !o.teacher && model.format !== 'onnx' ? model.clone() : null;
  const reads = trainingOutput(model, s.loss);
  const staticViews = staticQat ? staticQatViews(tf, staticQat.qat) : undefined;
  const trainable = await openTrainable(tf, model, { views: qat ? fakeQuantViews(tf, qat) : staticViews?.views, activations: staticViews?.activations, output: reads.value, bnMode: s.bnMode });
  let teacher: Predictor | null = null;
  let teacherReads: TrainingOutput | null = null;
  let training: FitResult;
  try {
    if (needsTeacher) {
      const other = o.teacher ?? asGiven ?? (model.format === 'onnx' ? null : tfjsTeacher!);
      teacherReads = other ? trainingOutput(other, s.loss) : reads;
      teacher = other ? await openPredictor(tf, other, teacherReads.value) : { predict: (f) => trainable.reference(f)!, dispose: () => {} };
      checkTeacher(trainable, teacher, train, o.teacherLabel);
    }
    notes.push(`the loss reads ${reads.description}${teacherReads && teacherReads.description !== reads.description ? `; of the teacher, ${teacherReads.description}` : ''}`);
    notes.push(model.format === 'onnx'
      ? staticQat ? 'static QAT: BatchNormalization (if any) is folded into its Conv/Gemm before training (the static path\'s rewrite), so the folded weights are what trains and what is quantized'
        : trainable.batchStatsNodes ? `BatchNormalization trains with batch statistics (--bn-mode train): ${trainable.batchStatsNodes} node(s) normalize each batch with its own mean and variance, and their running statistics (updated with each node's momentum) are written`
          : 'BatchNormalization runs with frozen statistics (its mean and variance are not trained; scale and bias are)'
      : model.format === 'tfjs-graph' ? 'tfjs graph model on stock tfjs: filters, MatMul operands, biases and FusedBatchNorm scale/offset trained; FusedBatchNorm mean and variance frozen'
        : trainable.batchStatsNodes ? `tfjs layers-model, --bn-mode train: training steps run with training: true (as Keras fit), so ${trainable.batchStatsNodes} BatchNormalization layer(s) normalize each batch with its own statistics and their moving statistics are updated and written; Dropout, if any, is active`
          : 'tfjs layers-model: BatchNormalization moving statistics frozen (training: false); trainable weights only');
    if (trainable.unreached.length) {
      const u = trainable.unreached;
      notes.push(`${u.length} weight(s) feed only outputs the loss does not read (it reads the first output) and are not trained: ${u.slice(0, 5).map((v) => v.name).join(', ')}${u.length > 5 ? `, and ${u.length - 5} more` : ''}`);
    }
    progress(`training ${trainable.params.length} weight tensor(s) on ${train.count} sample(s)`);
    const total = Math.ceil(train.count / s.batchSize) * s.epochs;
    const gradual = s.prune ? {
      initial: s.prune.initial, final: s.prune.final, frequency: s.prune.frequency, beginStep: 0,
      endStep: Math.max(0, Math.floor(s.prune.end * total) - 1), vars: layerWeightIndices(trainable.params, model.format),
      scope: s.prune.scope ?? FINETUNE_DEFAULTS.pruneScope, minDensity: s.prune.minDensity ?? PRUNE_DEFAULTS.minDensity,
    } : undefined;
    training = fit(tf, trainable, teacher, train, {
      ...s, gradual, loss: { kind: s.loss, temperature: s.temperature, alpha: s.alpha, probabilities: reads.reads === 'probabilities', teacherProbabilities: teacherReads ? teacherReads.reads === 'probabilities' : undefined },
      validation: val ? { set: val } : undefined, onStep: o.onStep,
    });
    const written = trainable.writeBack();
    const names = (vs: readonly Value[]): string => `${vs.slice(0, 3).map((v) => v.name).join(', ')}${vs.length > 3 ? `, and ${vs.length - 3} more` : ''}`;
    if (written.float16.length) notes.push(`${written.float16.length} trained weight(s) stored float16 in the input are stored float16 again, the trained values rounded to float16: ${names(written.float16)}`);
    if (written.widened.length) notes.push(`${written.widened.length} trained weight(s) stored as tfjs uint8/uint16 in the input are written float32 (trained values are off the stored grid): ${names(written.widened)}`);
  } finally {
    teacher?.dispose();
    trainable.dispose();
  }
  // QAT: the trained floats go through the quantize pass itself (no output check: a back-off would change the forms trained for).
  const quantize = s.qat ? (await quantizeModel(model, s.qat.quantize, { label: o.teacherLabel, backup: { bits: s.qat.backupBits }, allowPartial: o.allowPartial, progress })).report : undefined;
  // Static QAT: the QDQ pass with the ranges calibrated before training (pipeline/qat-static.ts says why not new ones).
  const staticQuantize = staticQat ? emitStaticQat(model, staticQat, progress) : undefined;
  if (staticQuantize) notes.push(...staticQuantize.warnings);
  const qatRec = s.qat && qat ? qatRecord(s.qat, qat) : staticQat && s.qatStatic ? staticQatRecord(staticQat.options, staticQat.qat, { data: s.qatStatic.calib, samples: staticQat.samples }) : undefined;
  return {
    samples: train.count, engine: `tfjs ${engine}`, training, notes, quantize, staticQuantize, qat: qatRec,
    staticCalibration: staticQat ? { samples: staticQat.samples, batchSize: staticQat.options.batchSize, seconds: calibSeconds, smallLayers: staticQat.options.smallLayers as string[] } : undefined,
    lossReads: { student: reads.reads, teacher: teacherReads?.reads ?? null },
  };
}

/** The teacher's first output must have the student's shape (checked on one training batch). */
function checkTeacher(student: { predict(f: Readonly<Record<string, T>>): T }, teacher: Predictor, train: TrainingSet, label: string): void {
  const b = train.batch(tf, [0]);
  try {
    const a = student.predict(b.feeds);
    let t: T;
    try {
      t = teacher.predict(b.feeds);
    } catch (e) {
      a.dispose();
      throw new InputError(`the teacher cannot run on the training data: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, label);
    }
    const same = a.shape.length === t.shape.length && a.shape.every((d, i) => d === t.shape[i]);
    const msg = `the teacher's output ${JSON.stringify(t.shape)} does not match the student's ${JSON.stringify(a.shape)}`;
    a.dispose();
    t.dispose();
    if (!same) throw new InputError(msg, label);
  } finally {
    tf.dispose(Object.values(b.feeds));
  }
}

function stampTraining(model: Model, record: Record<string, unknown>): void {
  const json = JSON.stringify({ tool: `mc ${VERSION}`, ...record });
  if (model.format === 'onnx') model.setMetadata('mc.finetune', json);
  else model.userMetadata = { ...(model.userMetadata ?? {}), 'mc.finetune': JSON.parse(json) as unknown };
}
