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
import { CALIBRATION_METHODS, CalibrationMethod, createObserver, MinMaxObserver, Observer, TensorRange } from './observers';

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
  /** onnxruntime intra-op threads; default: every core. */
  threads?: number;
  /** Image folders: preprocessing (see src/data). */
  preprocess?: Partial<PreprocessOptions>;
  /** Called after each batch with samples done and the total. */
  progress?: (done: number, total: number) => void;
  /** Opens the augmented model; onnxruntime-node by default (tests substitute it). */
  createRunner?: (bytes: Uint8Array, threads: number) => Promise<ModelRunner>;
}

export interface CalibrationResult {
  method: CalibrationMethod;
  /** Observed range per tensor name. */
  ranges: Map<string, TensorRange>;
  samples: number;
  batches: number;
  batchSize: number;
  seconds: number;
  warnings: string[];
}

export function defaultCalibrationOptions(): CalibrationOptions {
  return { method: 'minmax', percentile: 99.999, batchSize: 32, qmin: -128, qmax: 127, bins: DEFAULT_BINS };
}

export function checkCalibrationOptions(o: CalibrationOptions): void {
  if (!CALIBRATION_METHODS.includes(o.method)) throw new UsageError(`--calib-method must be one of ${CALIBRATION_METHODS.join(', ')}, got ${String(o.method)}`);
  if (!(o.percentile > 0 && o.percentile <= 100)) throw new UsageError(`--percentile must be in (0, 100], got ${String(o.percentile)}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new UsageError(`--batch-size must be a positive integer, got ${String(o.batchSize)}`);
  if (o.samples !== undefined && (!Number.isInteger(o.samples) || o.samples < 1)) throw new UsageError(`--calib-samples must be a positive integer, got ${String(o.samples)}`);
  if (o.movingAverage !== undefined && !(o.movingAverage > 0 && o.movingAverage <= 1)) throw new UsageError(`moving-average constant must be in (0, 1], got ${String(o.movingAverage)}`);
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
 * Runs `model` over the calibration data and returns the range of every tensor
 * in `tensors` (main-graph float32 values) by the chosen method.
 */
export async function calibrate(model: Model, tensors: readonly string[], data: Dataset | string, partial: Partial<CalibrationOptions> = {}): Promise<CalibrationResult> {
  const opts: CalibrationOptions = { ...defaultCalibrationOptions(), ...stripUndefined(partial) };
  checkCalibrationOptions(opts);
  const { dataset, fixedBatch } = openCalibrationData(model, data, opts.preprocess);
  const batchSize = fixedBatch ?? opts.batchSize;
  const total = Math.min(dataset.count, opts.samples ?? Infinity);
  const observers = new Map<string, Observer>();
  for (const t of tensors) observers.set(t, createObserver({ ...opts, bins: opts.bins }));
  const threads = opts.threads ?? Math.max(1, os.availableParallelism());
  // Min-max needs two numbers per tensor and batch: onnxruntime reduces in-graph
  // (see augmentedModel). Histogram methods need the values themselves.
  const reduce = opts.method === 'minmax';
  // Histogram methods read a graph input straight from the batch fed: exposing it would only copy it back.
  const inputs = new Set(modelInputSpecs(model).map((s) => s.name));
  const { bytes, reductions } = augmentedModel(model, reduce ? [] : tensors.filter((t) => !inputs.has(t)), reduce ? tensors : []);
  const open = opts.createRunner ?? openOrt;
  const runner = await open(bytes, threads);
  /** Exposes the full tensors, opened only if an in-graph reduction is not finite (NaN/±Inf: MinMaxObserver's rules apply). */
  let exposing: ModelRunner | undefined;
  const warnings: string[] = [];
  const fetch = reduce ? [...reductions.values()].flatMap((r) => [r.min, r.max]) : [...observers.keys()].filter((t) => !inputs.has(t));
  const started = process.hrtime.bigint();
  let samples = 0;
  let batches = 0;
  try {
    const inputNames = new Set(runner.inputs.map((i) => i.name));
    for (const batch of dataset.batches(batchSize, total)) {
      const feeds = new Map<string, HostTensor>();
      for (const [name, t] of batch.inputs) if (inputNames.has(name)) feeds.set(name, { dtype: t.dtype, shape: t.shape, data: t.data });
      const outs = fetch.length ? await runner.run(feeds, fetch) : new Map<string, HostTensor>();
      const full: string[] = [];
      for (const [name, obs] of observers) {
        const r = reductions.get(name);
        if (r && obs instanceof MinMaxObserver) {
          const lo = outs.get(r.min)?.data;
          const hi = outs.get(r.max)?.data;
          if (lo instanceof Float32Array && hi instanceof Float32Array && Number.isFinite(lo[0]) && Number.isFinite(hi[0])) obs.fold(lo[0], hi[0]);
          else full.push(name);
          continue;
        }
        observe(name, obs, inputs.has(name) ? feeds : outs);
      }
      if (full.length) {
        exposing ??= await open(augmentedModelBytes(model, tensors), threads);
        const exposed = await exposing.run(feeds, full);
        for (const name of full) observe(name, observers.get(name)!, exposed);
      }
      samples += batch.count;
      batches++;
      opts.progress?.(samples, total);
    }
  } finally {
    await runner.dispose();
    await exposing?.dispose();
  }

  function observe(name: string, obs: Observer, outs: ReadonlyMap<string, HostTensor>): void {
    const o = outs.get(name);
    if (!o) return;
    if (!(o.data instanceof Float32Array)) {
      warnings.push(`${name}: ${o.dtype}, not float32; left unobserved`);
      observers.delete(name);
      return;
    }
    obs.update(o.data);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const ranges = new Map<string, TensorRange>();
  for (const [name, obs] of observers) ranges.set(name, obs.range());
  return { method: opts.method, ranges, samples, batches, batchSize, seconds, warnings };
}

function openOrt(bytes: Uint8Array, threads: number): Promise<ModelRunner> {
  return OrtRunner.create(bytes, { threads, label: 'calibration model' });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
