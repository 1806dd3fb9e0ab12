/**
 * Static int8 (QDQ) with calibration, as a pipeline step: the model-level
 * step a recipe runs (quantizeStaticModel) and the file job `mc quantize
 * --calib` runs (quantizeStaticFile: load → lift weights → static step →
 * onnxruntime load check → atomic write → sizes).
 */
import {
  CalibrationStatistics, collectStatistics, DEFAULT_BINS, kindOf, openCalibrationData, rangesFrom, STATISTIC_KINDS, TensorRange,
} from '../calibrate';
import type { ActivationSink } from '../calibrate';
import { applyStaticBiasCorrection, staticBiasTargets } from './static-bias-correction';
import { mismatch, readStatisticsFile, SavedStatistics, StatisticsKey, statisticsKey, writeStatisticsFile } from '../calibrate/stats-file';
import type { Dataset } from '../data';
import { IncompleteError, UnsupportedError } from '../errors';
import { loadModel, modelFiles } from '../formats';
import type { Model } from '../ir';
import { runPass } from '../passes';
import { inferTypes } from '../passes/float16/value-types';
import {
  activationRange, findPoolingMatches, foldBatchNormForInt8, gemmToMatMulForInt8Pass, paddingLines, PlanOptions, resolveStaticOptions, spaceToDepthPoolingPass,
  SpaceToDepthSkip, staticQdqPass, StaticQuantizeOptions, StaticQuantizeResult, tensorsToCalibrate,
} from '../passes/quantize/static';
import type { HostTensor } from '../runtime';
import { FileSizes, filesSize } from '../util/file-size';
import { VERSION } from '../version';
import { checkOutputPath, defaultOutputPath, writeOutput } from './output';
import { liftNotes, liftWeights } from './quantize';
import { decideSmallLayers, decideSpaceToDepth, hostIsTarget } from './static-decisions';

export type { StaticQuantizeOptions, StaticQuantizeResult } from '../passes/quantize/static';

/** Where the calibration statistics come from. */
export interface StaticCalibrationSource {
  /** Calibration data: .npy, .npz, image folder, ONNX test-data folder, or an open Dataset (its path identifies it for the cache). */
  data: string | Dataset;
  /**
   * `--calib-cache` path: the statistics are read from this file when it was written for the same
   * calibrated graph, data and settings (src/calibrate/stats-file.ts), and the model is not run;
   * otherwise they are computed (every method's statistics, so that any method can reuse them)
   * and the file is written (atomically), replacing one for other inputs. A file that is not a
   * statistics file is refused (InputError), never overwritten.
   */
  cache?: string;
  /**
   * Statistics kept in memory across static steps of one process (a search applying many
   * recipes to clones of one model): looked up and filled under the same key as the file,
   * so a variant whose calibrated graph, data and settings match reuses them, and one that
   * differs is calibrated (and remembered) on its own.
   */
  memory?: StatisticsMemory;
}

/** In-memory statistics, keyed as the --calib-cache file is (statisticsKey). */
export class StatisticsMemory {
  private readonly saved: SavedStatistics[] = [];
  /** Calibration runs made on behalf of this memory (a search reports it: one is the aim). */
  runs = 0;
  find(key: StatisticsKey, tensors: readonly string[], kinds: Parameters<typeof mismatch>[3]): SavedStatistics | undefined {
    return this.saved.find((s) => mismatch(s, key, tensors, kinds) === undefined);
  }
  remember(s: SavedStatistics): void {
    this.saved.push(s);
  }
}

export interface StaticStepContext {
  toolVersion?: string;
  progress?: (message: string) => void;
}

/**
 * The first half of the static step (in place), shared with static QAT (qat-static.ts): the exact
 * rewrites for onnxruntime's integer kernels (BN folding, Gemm → MatMul), the decision on which
 * small MatMul/Gemm stay float, the QDQ plan, and the tensors it needs calibrated.
 */
export async function prepareInt8Graph(
  model: Model, opts: StaticQuantizeOptions, dataset: Parameters<typeof decideSmallLayers>[3], batchSize: number, toolVersion: string, progress?: (m: string) => void,
): Promise<{ transformations: string[]; small: Awaited<ReturnType<typeof decideSmallLayers>>; plan: PlanOptions; observed: string[] }> {
  const transformations = foldBatchNormForInt8(model, toolVersion);
  const base: PlanOptions = { exclude: opts.exclude, opTypes: opts.opTypes };
  const small = await decideSmallLayers(model, opts, base, dataset, batchSize, progress);
  const gemms = runPass(gemmToMatMulForInt8Pass({ ...base, keepFloat: small.keepFloat }), model, { toolVersion, progress }).changes;
  transformations.push(...gemms.transformations);
  const plan: PlanOptions = { ...base, originalOpType: gemms.originalOpType, keepFloat: small.keepFloat };
  return { transformations, small, plan, observed: tensorsToCalibrate(model, plan).map((v) => v.name) };
}

/** The activation ranges of a calibration method from the statistics, on the activation type's integer range. */
export function activationRanges(stats: CalibrationStatistics, opts: StaticQuantizeOptions): Map<string, TensorRange> {
  const { qmin, qmax } = activationRange(opts.activationType);
  return rangesFrom(stats, opts.calibrationMethod, { percentile: opts.percentile, movingAverage: opts.movingAverage, qmin, qmax });
}

/**
 * The static step on a model in memory (in place). ONNX only:
 *   fold BatchNormalization → decide which small MatMul/Gemm stay float → Gemm → MatMul
 *   → calibrate the tensors the plan needs (or read them from the cache) → the QDQ pass
 *   with those ranges → the space-to-depth pass where it is decided to pay.
 */
export async function quantizeStaticModel(model: Model, options: Partial<StaticQuantizeOptions>, calib: StaticCalibrationSource, ctx: StaticStepContext = {}): Promise<StaticQuantizeResult> {
  if (model.format !== 'onnx') throw new UnsupportedError('static quantization (--calib) needs an ONNX model: tfjs has no int8 kernels');
  const opts = resolveStaticOptions(options);
  const toolVersion = ctx.toolVersion ?? VERSION;
  const progress = ctx.progress;
  const { dataset, fixedBatch } = openCalibrationData(model, calib.data, opts.preprocess);
  const batchSize = fixedBatch ?? opts.batchSize;
  // Exact rewrites for ORT's integer kernels (BN folding, Gemm → MatMul; channel padding in the QDQ pass). They run
  // after the options and data are checked; should calibration still fail, the model is changed but computes the same.
  const { transformations, small, plan, observed } = await prepareInt8Graph(model, opts, dataset, batchSize, toolVersion, progress);
  const warnings: string[] = [];
  let stats: CalibrationStatistics | undefined;
  let cache: StaticQuantizeResult['calibration']['cache'];
  let ranges: Map<string, TensorRange> | undefined;
  // bias correction (static-bias-correction.ts): E[x] of each planned layer from the same run as the statistics
  const bias = opts.biasCorrection && observed.length ? staticBiasTargets(model, plan) : undefined;
  if (observed.length) {
    const got = await statisticsFor(model, observed, dataset, calib, opts, batchSize, progress, bias ? [bias.sink] : []);
    stats = got.stats;
    cache = got.cache;
    ranges = activationRanges(stats, opts);
    warnings.push(...stats.warnings);
    if (bias) {
      let passes = 1;
      if (!bias.sink.fed()) {
        // the statistics came from a cache or memory: one pass for E[x] alone
        progress?.('bias correction: collecting layer input means');
        // (onnxruntime runs this pass with other threads and outputs than the statistics run, so E[x] can differ in the
        // last bits from an uncached run: cached runs give the same bytes as each other, not as an uncached one)
        await collectStatistics(model, [], dataset, { kinds: [], sinks: [bias.sink], samples: opts.samples, batchSize: opts.batchSize, threads: opts.threads, preprocess: opts.preprocess, observeIn: 'main' });
        passes = 2;
      }
      const r = applyStaticBiasCorrection(model, bias, opts.perTensor);
      transformations.push(`bias correction: ${r.corrected.length} bias(es) shifted by (W − Ŵ)·E[x] with Ŵ the int8 weight, E[x] over ${stats.samples} calibration samples (${passes === 1 ? 'the statistics run' : 'one more pass: the statistics were cached'})`);
      for (const k of r.skipped) warnings.push(`bias correction: ${k.name} not corrected: ${k.reason}`);
    }
  } else {
    warnings.push('nothing to quantize: no Conv, MatMul or Gemm with a float32 input');
  }
  const samples = stats?.samples ?? 0;
  const qdq = runPass(staticQdqPass({ options: opts, plan, ranges, samples }), model, { toolVersion, progress }).changes;
  warnings.push(...qdq.warnings);
  const calibration = {
    method: opts.calibrationMethod, samples, batches: stats?.batches ?? 0, batchSize: stats?.batchSize ?? 0, seconds: stats?.seconds ?? 0, ...(cache ? { cache } : {}),
  };
  const { padded, ...rest } = qdq;
  if (!qdq.quantizedNodes.length && !qdq.activations.length) {
    transformations.push(...paddingLines(padded));
    const decisions = { smallLayers: small.decision, spaceToDepth: { how: 'none' as const, applied: false, pin: 'off' } };
    return { ...rest, modified: qdq.modified || transformations.length > 0, calibration, transformations, spaceToDepthSkipped: [], warnings, decisions };
  }
  const s2d = await decideSpaceToDepth(model, opts, () => firstBatch(dataset, batchSize), progress);
  let spaceToDepthSkipped: SpaceToDepthSkip[] = [];
  let kept = padded;
  const rewrites: string[] = [];
  if (!s2d.applied && (s2d.how === 'none' || s2d.how === 'measured')) {
    // Considered and not applied: still say why each near-miss pair would not have been rewritten.
    spaceToDepthSkipped = findPoolingMatches(model.graph, model.opsetVersion('') ?? 0).skipped;
  }
  {
    const pooling = s2d.applied ? runPass(spaceToDepthPoolingPass, model, { toolVersion, progress }).changes : undefined;
    if (pooling) {
      spaceToDepthSkipped = pooling.skipped;
      const rewritten = new Set(pooling.applied.map((a) => a.conv));
      kept = padded.filter((p) => !rewritten.has(p.node));
      rewrites.push(...pooling.transformations);
      Object.assign(rest.settings, pooling.settings);
      for (const row of rest.activations) {
        row.name = pooling.renamed.get(row.name) ?? row.name;
        if (row.sharedWith) row.sharedWith = pooling.renamed.get(row.sharedWith) ?? row.sharedWith;
      }
    }
  }
  transformations.push(...paddingLines(kept), ...rewrites);
  if ((small.decision.how === 'measured' && small.decision.layers.length) || s2d.how === 'measured') {
    if (!hostIsTarget(opts.target)) warnings.push(`decisions timed on ${small.decision.cpu ?? s2d.cpu}, whose int8 kernels are not those of --target ${opts.target}: pin them for the target (--small-layers, --space-to-depth)`);
  }
  return { ...rest, calibration, transformations, spaceToDepthSkipped, warnings, decisions: { smallLayers: small.decision, spaceToDepth: s2d } };
}

/** `needed`, then every other main-graph node output that may be a float activation (non-float ones end up unobserved). */
function everyActivation(model: Model, needed: readonly string[]): string[] {
  const names = new Set(needed);
  // Types as the file records them or the ops' type rules give them (a value the file does not type, such as
  // paddle2onnx's Shape → Cast to int64, must not become a float output of the calibration model: onnxruntime
  // refuses to load it). A value whose type stays unknown is left out: it is observed when a plan needs it.
  const types = inferTypes(model.graph);
  for (const v of model.graph.inputs) if (!v.const && types.get(v) === 'float32') names.add(v.name);
  for (const n of model.graph.nodes) for (const v of n.outputs) if (v.name && types.get(v) === 'float32') names.add(v.name);
  return [...names];
}

/** The first calibration batch as onnxruntime feeds (the space-to-depth timing runs on it). */
function firstBatch(dataset: Dataset, batchSize: number): Map<string, HostTensor> {
  for (const b of dataset.batches(batchSize, batchSize)) {
    return new Map([...b.inputs].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: t.data }]));
  }
  return new Map();
}

/** The statistics of `tensors`: computed for the chosen method alone, or through the --calib-cache file. */
async function statisticsFor(model: Model, tensors: string[], dataset: Dataset, calib: StaticCalibrationSource, opts: StaticQuantizeOptions, batchSize: number,
  progress?: (m: string) => void, sinks: ActivationSink[] = []): Promise<{ stats: CalibrationStatistics; cache?: StaticQuantizeResult['calibration']['cache'] }> {
  const kind = kindOf(opts.calibrationMethod);
  const run = (kinds: typeof STATISTIC_KINDS, observe: readonly string[] = tensors): Promise<CalibrationStatistics> => {
    progress?.(`calibrating ${observe.length} tensors (${kinds.length === 1 ? opts.calibrationMethod : 'statistics of every method'})`);
    return collectStatistics(model, observe, dataset, {
      kinds, samples: opts.samples, batchSize: opts.batchSize, threads: opts.threads, preprocess: opts.preprocess, bins: DEFAULT_BINS, sinks,
      progress: (done, total) => progress?.(`calibrating: ${done}/${total} samples`),
    });
  };
  if (calib.cache === undefined && calib.memory === undefined) return { stats: await run([kind]) };
  const started = process.hrtime.bigint();
  const key = statisticsKey(model, calib.data, { samples: opts.samples, batchSize, bins: DEFAULT_BINS, preprocess: opts.preprocess });
  const remembered = calib.memory?.find(key, tensors, [kind]);
  if (remembered) {
    progress?.('calibration statistics from memory');
    return { stats: { ...remembered.stats, seconds: Number(process.hrtime.bigint() - started) / 1e9 } };
  }
  if (calib.cache === undefined) {
    // A search's variants calibrate different tensors (an excluded node moves a Q/DQ pair): observe every
    // main-graph activation once, so that one run serves them all.
    const all = everyActivation(model, tensors);
    const stats = await run(STATISTIC_KINDS, all);
    calib.memory!.runs++;
    calib.memory!.remember({ key, stats, unobserved: all.filter((t) => !stats.tensors.has(t)) });
    return { stats };
  }
  const file = calib.cache;
  const saved = readStatisticsFile(file);
  const why = saved ? mismatch(saved, key, tensors, [kind]) : 'there was no file';
  if (saved && why === undefined) {
    progress?.(`calibration statistics from ${file}`);
    saved.stats.seconds = Number(process.hrtime.bigint() - started) / 1e9;
    calib.memory?.remember(saved);
    return { stats: saved.stats, cache: { file, action: 'read' } };
  }
  const stats = await run(STATISTIC_KINDS);
  const out: SavedStatistics = { key, stats, unobserved: tensors.filter((t) => !stats.tensors.has(t)) };
  if (calib.memory) { calib.memory.runs++; calib.memory.remember(out); }
  writeStatisticsFile(file, out);
  return { stats, cache: { file, action: 'written', reason: saved ? `recomputed: ${why}` : why } };
}

export interface StaticQuantizeFileOptions {
  input: string;
  /** Default: model.int8.onnx. */
  output?: string;
  /** Calibration data: .npy, .npz, image folder, or ONNX test-data folder. */
  calib: string;
  /** `--calib-cache` path (see StaticCalibrationSource.cache). */
  calibCache?: string;
  options: StaticQuantizeOptions;
  force?: boolean;
  /** Write the model even when no node was quantized (default false: IncompleteError). */
  allowPartial?: boolean;
  progress?: (message: string) => void;
}

export interface StaticQuantizeFileResult {
  input: string;
  output: string;
  report: StaticQuantizeResult;
  size: { before: FileSizes; after: FileSizes };
  verified: boolean;
  notes: string[];
}

/** Static int8 (QDQ) with calibration; ONNX only. The result is always opened in onnxruntime first. */
export async function quantizeStaticFile(o: StaticQuantizeFileOptions): Promise<StaticQuantizeFileResult> {
  const progress = o.progress ?? (() => {});
  const output = o.output ?? defaultOutputPath(o.input, 'int8');
  checkOutputPath(o.input, output, o.force === true);
  progress('loading');
  const model = loadModel(o.input);
  const before = await filesSize(modelFiles(o.input, model), { gzip: false });
  const lifted = liftWeights(model, progress);
  const report = await quantizeStaticModel(model, o.options, { data: o.calib, cache: o.calibCache }, { toolVersion: VERSION, progress });
  if (report.quantizedNodes.length === 0) {
    const summary = `static int8 quantized no node (${report.skipped.length} left in float)`;
    if (o.allowPartial !== true) {
      throw new IncompleteError(`${o.input}: ${summary}; nothing written (--allow-partial writes it anyway)`, report.skipped.map((s) => `${s.node} (${s.opType}): ${s.reason}`));
    }
    report.warnings.push(`partial: ${summary}`);
  }
  const written = await writeOutput(model, { input: o.input, output, force: o.force === true, verify: true, gzip: false, progress });
  return { input: o.input, output, report, size: { before, after: written }, verified: written.verified, notes: [...liftNotes(lifted), ...written.notes] };
}
