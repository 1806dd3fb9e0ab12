/**
 * Observers see one tensor batch after batch and finally give its
 * quantization range. Activations are never kept: each observer holds O(1)
 * numbers (min-max) or one fixed-size histogram, so memory does not depend on
 * how many calibration samples are fed.
 */
import { entropyThresholdBins } from './entropy';
import { DEFAULT_BINS, HistogramMode, StreamingHistogram } from './histogram';
import { mseRange } from './mse';

import { CALIBRATION_METHODS, CalibrationMethod, DEFAULT_PERCENTILE } from '../passes/quantize/calibration-methods';

export { CALIBRATION_METHODS };
export type { CalibrationMethod };

/** A calibrated range; min ≤ 0 ≤ max is not guaranteed here (the quantizer widens it to include 0). */
export interface TensorRange {
  min: number;
  max: number;
}

export interface ObserverOptions {
  method: CalibrationMethod;
  /** Percentile method: keep this percentage of values, clipping (100 − p)/2 % from each tail. */
  percentile: number;
  /** Min-max method: exponential moving average constant c (min ← min + c·(batchMin − min)); undefined = plain running min/max. */
  movingAverage?: number;
  /** Integer grid of the activation type (MSE needs it to price a range). */
  qmin: number;
  qmax: number;
  bins: number;
}

export interface Observer {
  update(data: Float32Array): void;
  range(): TensorRange;
}

export class MinMaxObserver implements Observer {
  private min = Infinity;
  private max = -Infinity;
  private batches = 0;

  constructor(private readonly movingAverage?: number) {}

  update(data: Float32Array): void {
    const r = finiteBatchRange(data);
    if (r) this.fold(r[0], r[1]);
  }

  /** @internal Folds one batch's range in (running or moving-average). */
  fold(bmin: number, bmax: number): void {
    const c = this.movingAverage;
    if (c === undefined || this.batches === 0) {
      this.min = Math.min(this.min, bmin);
      this.max = Math.max(this.max, bmax);
    } else {
      // onnxruntime MinMaxCalibrater(moving_average=True): new = old + c·(batch − old).
      this.min += c * (bmin - this.min);
      this.max += c * (bmax - this.max);
    }
    this.batches++;
  }

  range(): TensorRange {
    return this.batches === 0 ? { min: 0, max: 0 } : { min: this.min, max: this.max };
  }
}

/**
 * A batch's range as min-max calibration takes it: NaN is skipped (it compares false), and a batch
 * with ±Inf gives the range of its finite values; undefined when it has none.
 */
export function finiteBatchRange(data: Float32Array): [number, number] | undefined {
  let bmin = Infinity;
  let bmax = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < bmin) bmin = v; // NaN compares false and is skipped
    if (v > bmax) bmax = v;
  }
  if (Number.isFinite(bmin) && Number.isFinite(bmax)) return [bmin, bmax];
  bmin = Infinity;
  bmax = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue;
    if (v < bmin) bmin = v;
    if (v > bmax) bmax = v;
  }
  return bmin <= bmax ? [bmin, bmax] : undefined;
}

/**
 * The min-max range from the batches' ranges in order ([min₀, max₀, min₁, max₁, ...]), plain or with
 * onnxruntime's moving average: MinMaxObserver's fold replayed, so the result is the observer's bit for bit.
 */
export function minMaxRange(batchRanges: ArrayLike<number>, movingAverage?: number): TensorRange {
  const o = new MinMaxObserver(movingAverage);
  for (let i = 0; i + 1 < batchRanges.length; i += 2) o.fold(batchRanges[i], batchRanges[i + 1]);
  return o.range();
}

/** The histogram a method ranges from: |x| for entropy, x for percentile and mse; undefined for min-max. */
export function histogramModeOf(method: CalibrationMethod): HistogramMode | undefined {
  if (method === 'minmax') return undefined;
  return method === 'entropy' ? 'abs' : 'signed';
}

/** The range of a histogram method (percentile, entropy, mse) from its histogram (histogramModeOf). */
export function histogramRange(h: StreamingHistogram, opts: Pick<ObserverOptions, 'method' | 'percentile' | 'qmin' | 'qmax'>): TensorRange {
  if (h.binWidth === 0) return { min: 0, max: 0 };
  switch (opts.method) {
    case 'percentile': {
      // onnxruntime HistogramCollector.compute_percentile (asymmetric): cut (100 − p)/2 % per side.
      const cut = (100 - opts.percentile) / 200;
      return { min: h.quantile(cut), max: h.quantile(1 - cut) };
    }
    case 'entropy':
      return entropyRange(h);
    case 'mse': {
      const r = mseRange(h, opts.qmin, opts.qmax);
      return { min: r.min, max: r.max };
    }
    default:
      return { min: h.min, max: h.max };
  }
}

/** Percentile, entropy and MSE: one streaming histogram, a range computed at the end. */
export class HistogramObserver implements Observer {
  readonly histogram: StreamingHistogram;

  constructor(private readonly opts: ObserverOptions) {
    this.histogram = new StreamingHistogram(histogramModeOf(opts.method) ?? 'signed', opts.bins);
  }

  update(data: Float32Array): void {
    this.histogram.update(data);
  }

  range(): TensorRange {
    return histogramRange(this.histogram, this.opts);
  }
}

/**
 * Entropy range from the |x| histogram: threshold T from the KL search, with
 * 256 levels when the tensor never went negative (range [0, T]) and 128 when
 * it did (range [−T, T]).
 */
function entropyRange(h: StreamingHistogram): TensorRange {
  const unsigned = !h.sawNegative;
  const { bins } = entropyThresholdBins(h.counts, unsigned ? 256 : 128);
  const t = Math.min(h.max, h.edge(bins));
  return unsigned ? { min: 0, max: t } : { min: -t, max: t };
}

export function createObserver(opts: ObserverOptions): Observer {
  if (opts.method === 'minmax') return new MinMaxObserver(opts.movingAverage);
  return new HistogramObserver(opts);
}

export const DEFAULT_OBSERVER_OPTIONS: Omit<ObserverOptions, 'qmin' | 'qmax'> = {
  method: 'minmax',
  percentile: DEFAULT_PERCENTILE,
  bins: DEFAULT_BINS,
};
