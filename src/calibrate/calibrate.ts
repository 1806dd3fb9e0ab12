/**
 * The calibration runner: streams batches of a dataset through onnxruntime
 * (the model augmented to expose the tensors to observe), feeds each exposed
 * tensor to its observer, and drops the batch. Peak memory is one batch of
 * inputs and observed activations plus the observers' fixed-size state,
 * whatever the number of samples.
 */
import * as os from 'os';
import { InputError, UsageError } from '../errors';
import type { Model } from '../ir';
import { Dataset, openDataset, PreprocessOptions, validateAgainst } from '../data';
import { HostTensor, ModelRunner, OrtRunner } from '../runtime';
import { augmentedModel, augmentedModelBytes, modelInputSpecs } from './augment';
import { DEFAULT_BINS } from './histogram';
import { ObserverThread, observerWorkerScript } from './observer-thread';
import { checkCalibrationChoice, DEFAULT_CALIBRATION_BATCH, DEFAULT_PERCENTILE } from '../passes/quantize/calibration-methods';
import type { CalibrationMethod, TensorRange } from './observers';
import type { ActivationSink } from './sink';
import {
  CalibrationStatistics, kindOf, rangesFrom, STATISTIC_KINDS, StatisticKind, TensorStatistics, tensorFromState, TensorStatisticsState,
} from './statistics';

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** Percentile method: percentage of values kept (default 99.999). */
  percentile: number;
  /** Min-max method: moving-average constant (onnxruntime uses 0.01); undefined = plain min/max. */
  movingAverage?: number;
  /** Read at most this many samples; undefined = the whole dataset. */
  samples?: number;
  /** Samples per onnxruntime run (a model with a fixed batch dim forces its own). */
  batchSize: number;
  /** Integer grid of the activations (MSE prices ranges on it). */
  qmin: number;
  qmax: number;
  /** Histogram bins (percentile, entropy, mse). */
  bins: number;
  /** onnxruntime intra-op threads; default: every core (every core but one while the observer worker bins). */
  threads?: number;
  /** Image folders: preprocessing (see src/data). */
  preprocess?: Partial<PreprocessOptions>;
  /** Called after each batch with samples done and the total. */
  progress?: (done: number, total: number) => void;
  /**
   * Histogram methods: bin the exposed tensors in a worker thread, overlapped
   * with onnxruntime ('worker'), on the main thread ('main'), or 'auto' (the
   * default): the worker when the compiled worker script exists (not under
   * ts-jest), the run has at least WORKER_MIN_BATCHES batches, and a core is
   * left for it (threads below the core count, or threads unset on 2+ cores).
   * With the worker and threads unset, onnxruntime gets every core but one.
   */
  observeIn?: 'auto' | 'worker' | 'main';
  /** Opens the augmented model; onnxruntime-node by default (tests substitute it). */
  createRunner?: (bytes: Uint8Array, threads: number) => Promise<ModelRunner>;
}

/** One method's ranges, with how the statistics behind them were gathered (observedIn: where histogram binning ran). */
export interface CalibrationResult extends Pick<CalibrationStatistics, 'samples' | 'batches' | 'batchSize' | 'seconds' | 'warnings' | 'observedIn'> {
  method: CalibrationMethod;
  /** Observed range per tensor name. */
  ranges: Map<string, TensorRange>;
}

/** Fewer batches than this: 'auto' bins on the main thread (the worker's start-up would not pay off). */
export const WORKER_MIN_BATCHES = 4;

export function defaultCalibrationOptions(): CalibrationOptions {
  return { method: 'minmax', percentile: DEFAULT_PERCENTILE, batchSize: DEFAULT_CALIBRATION_BATCH, qmin: -128, qmax: 127, bins: DEFAULT_BINS };
}

export function checkCalibrationOptions(o: CalibrationOptions): void {
  checkCalibrationChoice(o);
  if (o.observeIn !== undefined && !['auto', 'worker', 'main'].includes(o.observeIn)) throw new UsageError(`observeIn must be auto, worker or main, got ${String(o.observeIn)}`);
}

/** Opens a calibration dataset for `model` and checks it fits the model's inputs (one-line InputError otherwise). */
export function openCalibrationData(model: Model, data: Dataset | string, preprocess?: Partial<PreprocessOptions>): { dataset: Dataset; fixedBatch?: number } {
  const specs = modelInputSpecs(model);
  const dataset = typeof data === 'string' ? openDataset(data, { inputs: specs, preprocess }) : data;
  if (dataset.count === 0) throw new InputError('the calibration set has no samples', dataset.path);
  const { fixedBatch } = validateAgainst(dataset, specs.filter((s) => s.shape.length > 0));
  return { dataset, fixedBatch };
}

/**
 * One calibration batch in onnxruntime. Shapes and dtypes were validated against the model's inputs,
 * so a failure here is the model refusing these values (Silero's `sr` given a sample axis, a reflect
 * pad longer than the clip): an input error naming the data, not a bug in mc.
 */
async function runOn(runner: ModelRunner, feeds: Map<string, HostTensor>, fetch: readonly string[], data: Dataset | string): Promise<Map<string, HostTensor>> {
  try {
    return await runner.run(feeds, fetch);
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new InputError(`the model fails in onnxruntime on this calibration data: ${msg}`, typeof data === 'string' ? data : undefined);
  }
}

/** What collectStatistics gathers, besides the options calibrate() has. */
export interface StatisticsOptions extends Omit<CalibrationOptions, 'method' | 'percentile' | 'movingAverage' | 'qmin' | 'qmax'> {
  /** The statistics to gather per tensor (statistics.ts); default: all three, which serves every method. */
  kinds: readonly StatisticKind[];
  /** Further consumers of the activations (sink.ts), fed every batch on the main thread. */
  sinks?: readonly ActivationSink[];
}

export function defaultStatisticsOptions(): StatisticsOptions {
  const { batchSize, bins } = defaultCalibrationOptions();
  return { kinds: STATISTIC_KINDS, batchSize, bins };
}

/**
 * Runs `model` once over the calibration data and returns, for every tensor in
 * `tensors` (main-graph float32 values), the statistics of `kinds`; sinks see
 * the activations they ask for on the way. Ranges of any method then follow
 * from rangesFrom(statistics, method, ...).
 */
export async function collectStatistics(model: Model, tensors: readonly string[], data: Dataset | string, partial: Partial<StatisticsOptions> = {}): Promise<CalibrationStatistics> {
  const opts: StatisticsOptions = { ...defaultStatisticsOptions(), ...stripUndefined(partial) };
  checkCalibrationOptions({ ...defaultCalibrationOptions(), batchSize: opts.batchSize, samples: opts.samples, observeIn: opts.observeIn });
  for (const k of opts.kinds) if (!STATISTIC_KINDS.includes(k)) throw new UsageError(`statistics kind must be one of ${STATISTIC_KINDS.join(', ')}, got ${String(k)}`);
  const kinds = new Set(opts.kinds);
  const histKinds = [...kinds].filter((k): k is 'signed' | 'abs' => k !== 'range');
  const sinks = opts.sinks ?? [];
  const { dataset, fixedBatch } = openCalibrationData(model, data, opts.preprocess);
  const batchSize = fixedBatch ?? opts.batchSize;
  const total = Math.min(dataset.count, opts.samples ?? Infinity);
  const cores = Math.max(1, os.availableParallelism());
  // Batch ranges: onnxruntime reduces in-graph (see augmentedModel), two numbers per tensor and batch.
  // Histograms and sinks need the values themselves.
  const reduce = kinds.has('range');
  // A graph input is read straight from the batch fed: exposing it would only copy it back.
  const inputs = new Set(modelInputSpecs(model).map((s) => s.name));
  const wanted = [...new Set([...(histKinds.length ? tensors : []), ...sinks.flatMap((k) => k.tensors)])];
  const exposed = wanted.filter((t) => !inputs.has(t));
  const { bytes, reductions } = augmentedModel(model, exposed, reduce ? tensors : []);
  // Histograms of exposed tensors may be built by a worker (REMOTE here), overlapped with onnxruntime.
  const remoteNames = histKinds.length ? [...new Set(tensors)].filter((t) => !inputs.has(t)) : [];
  const thread = startObserverThread(opts, histKinds, remoteNames, Math.ceil(total / batchSize), cores);
  const remote = new Set(thread ? remoteNames : []);
  // The worker takes a core: by default onnxruntime gets the others (statistics do not depend on its thread count).
  const threads = opts.threads ?? (thread ? Math.max(1, cores - 1) : cores);
  const stats = new Map<string, TensorStatistics>();
  const local = new Set<StatisticKind>(thread ? [...kinds].filter((k) => k === 'range') : kinds);
  for (const t of tensors) stats.set(t, new TensorStatistics(remote.has(t) ? local : kinds, opts.bins));
  const sinksOf = new Map<string, ActivationSink[]>();
  for (const k of sinks) for (const t of new Set(k.tensors)) sinksOf.set(t, [...(sinksOf.get(t) ?? []), k]);
  const open = opts.createRunner ?? openOrt;
  let runner: ModelRunner;
  try {
    runner = await open(bytes, threads);
  } catch (e) {
    await thread?.close();
    throw e;
  }
  /** Exposes the full tensors, opened only if an in-graph reduction is not finite (NaN/±Inf: finiteBatchRange's rules apply). */
  let exposing: ModelRunner | undefined;
  const warnings: string[] = [];
  const fetch = [...(reduce ? [...reductions.values()].flatMap((r) => [r.min, r.max]) : []), ...exposed];
  const started = process.hrtime.bigint();
  let samples = 0;
  let batches = 0;
  let built: Map<string, TensorStatisticsState> | undefined;
  try {
    const inputNames = new Set(runner.inputs.map((i) => i.name));
    for (const batch of dataset.batches(batchSize, total)) {
      const feeds = new Map<string, HostTensor>();
      for (const [name, t] of batch.inputs) if (inputNames.has(name)) feeds.set(name, { dtype: t.dtype, shape: t.shape, data: t.data });
      const outs = fetch.length ? await runOn(runner, feeds, fetch, data) : new Map<string, HostTensor>();
      const valuesOf = (name: string): ReadonlyMap<string, HostTensor> => (inputs.has(name) ? feeds : outs);
      // Sinks first: the worker may take the buffers.
      for (const [name, list] of sinksOf) {
        const o = valuesOf(name).get(name);
        if (o?.data instanceof Float32Array) for (const k of list) k.observe(name, o.data, o.shape);
      }
      const full: string[] = [];
      const posted: [string, Float32Array][] = [];
      for (const [name, st] of stats) {
        const r = reductions.get(name);
        let rangeDone = !reduce;
        if (r) {
          const lo = outs.get(r.min)?.data;
          const hi = outs.get(r.max)?.data;
          if (lo instanceof Float32Array && hi instanceof Float32Array && Number.isFinite(lo[0]) && Number.isFinite(hi[0])) {
            st.foldRange(lo[0], hi[0]);
            rangeDone = true;
          } else if (!valuesOf(name).has(name)) {
            full.push(name);
            continue;
          }
        }
        if (rangeDone && !histKinds.length) continue;
        observe(name, st, valuesOf(name), posted, rangeDone);
      }
      if (posted.length) await thread!.update(posted);
      if (full.length) {
        exposing ??= await open(augmentedModelBytes(model, tensors), threads);
        const values = await runOn(exposing, feeds, full, data);
        for (const name of full) observe(name, stats.get(name)!, values, posted, false);
      }
      samples += batch.count;
      batches++;
      opts.progress?.(samples, total);
    }
    built = await thread?.statistics();
  } finally {
    await runner.dispose();
    await exposing?.dispose();
    await thread?.close();
  }

  function observe(name: string, st: TensorStatistics, outs: ReadonlyMap<string, HostTensor>, posted: [string, Float32Array][], rangeDone: boolean): void {
    const o = outs.get(name);
    if (!o) return;
    if (!(o.data instanceof Float32Array)) {
      warnings.push(`${name}: ${o.dtype}, not float32; left unobserved`);
      stats.delete(name);
      return;
    }
    // A worker's tensor holds only the range kind here (its histograms are built there).
    st.update(o.data, o.shape, rangeDone);
    if (remote.has(name)) posted.push([name, o.data]);
  }
  for (const [name, st] of stats) {
    const r = built?.get(name);
    if (!r) continue;
    const h = tensorFromState(r, opts.bins);
    st.signed = h.signed;
    st.abs = h.abs;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { kinds: STATISTIC_KINDS.filter((k) => kinds.has(k)), bins: opts.bins, tensors: stats, samples, batches, batchSize, seconds, warnings, observedIn: thread ? 'worker' : 'main' };
}

/** Runs `model` over the calibration data and returns the range of every tensor in `tensors` by `method` (collectStatistics, then rangesFrom). */
export async function calibrate(model: Model, tensors: readonly string[], data: Dataset | string, partial: Partial<CalibrationOptions> = {}): Promise<CalibrationResult> {
  const opts: CalibrationOptions = { ...defaultCalibrationOptions(), ...stripUndefined(partial) };
  checkCalibrationOptions(opts);
  const { method, percentile, movingAverage, qmin, qmax, ...rest } = opts;
  const stats = await collectStatistics(model, tensors, data, { ...rest, kinds: [kindOf(method)] });
  const ranges = rangesFrom(stats, method, { percentile, movingAverage, qmin, qmax });
  const { samples, batches, batchSize, seconds, warnings, observedIn } = stats;
  return { method, ranges, samples, batches, batchSize, seconds, warnings, observedIn };
}

/** The observer thread for `names` when opts.observeIn and the run size call for it (see CalibrationOptions.observeIn). */
function startObserverThread(opts: StatisticsOptions, kinds: ('signed' | 'abs')[], names: string[], batches: number, cores: number): ObserverThread | undefined {
  const mode = opts.observeIn ?? 'auto';
  if (mode === 'main' || names.length === 0 || kinds.length === 0) return undefined;
  const script = observerWorkerScript();
  if (mode === 'worker' && !script) throw new UsageError('observeIn: worker needs the compiled observer-worker.js beside calibrate.js (run `npm run build`)');
  if (!script) return undefined;
  // Below WORKER_MIN_BATCHES its start-up (~30 ms) costs more than the overlap saves; with no free
  // core it only competes with onnxruntime (measured slower with 2 onnxruntime threads on 2 cores).
  const freeCore = opts.threads === undefined ? cores > 1 : opts.threads < cores;
  if (mode === 'auto' && (batches < WORKER_MIN_BATCHES || !freeCore)) return undefined;
  return new ObserverThread(script, { kinds, bins: opts.bins }, names);
}

function openOrt(bytes: Uint8Array, threads: number): Promise<ModelRunner> {
  return OrtRunner.create(bytes, { threads, label: 'calibration model' });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
