/**
 * Observers see one tensor batch after batch and finally give its
 * quantization range. Activations are never kept: each observer holds O(1)
 * numbers (min-max) or one fixed-size histogram, so memory does not depend on
 * how many calibration samples are fed.
 */
import { entropyThresholdBins } from './entropy';
import { DEFAULT_BINS, StreamingHistogram } from './histogram';
import { mseRange } from './mse';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];

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
    let bmin = Infinity;
    let bmax = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < bmin) bmin = v; // NaN compares false and is skipped
      if (v > bmax) bmax = v;
    }
    if (!Number.isFinite(bmin) || !Number.isFinite(bmax)) return finiteOnly(data, this);
    this.fold(bmin, bmax);
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

/** A batch with ±Inf: its range over the finite values only. */
function finiteOnly(data: Float32Array, o: MinMaxObserver): void {
  let bmin = Infinity;
  let bmax = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue;
    if (v < bmin) bmin = v;
    if (v > bmax) bmax = v;
  }
  if (bmin <= bmax) o.fold(bmin, bmax);
}

/** Percentile, entropy and MSE: one streaming histogram, a range computed at the end. */
export class HistogramObserver implements Observer {
  readonly histogram: StreamingHistogram;

  constructor(private readonly opts: ObserverOptions) {
    this.histogram = new StreamingHistogram(opts.method === 'entropy' ? 'abs' : 'signed', opts.bins);
  }

  update(data: Float32Array): void {
    this.histogram.update(data);
  }

  range(): TensorRange {
    const h = this.histogram;
    if (h.binWidth === 0) return { min: 0, max: 0 };
    switch (this.opts.method) {
      case 'percentile': {
        // onnxruntime HistogramCollector.compute_percentile (asymmetric): cut (100 − p)/2 % per side.
        const cut = (100 - this.opts.percentile) / 200;
        return { min: h.quantile(cut), max: h.quantile(1 - cut) };
      }
      case 'entropy':
        return entropyRange(h);
      case 'mse': {
        const r = mseRange(h, this.opts.qmin, this.opts.qmax);
        return { min: r.min, max: r.max };
      }
      default:
        return { min: h.min, max: h.max };
    }
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
  percentile: 99.999,
  bins: DEFAULT_BINS,
};
