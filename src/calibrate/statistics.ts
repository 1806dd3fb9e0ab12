/**
 * Calibration statistics: what one pass over the data leaves per activation,
 * from which every calibration method's range is derived afterwards
 * (rangesFrom), so that min-max, percentile, entropy and mse share a single
 * run of the model.
 *
 * Per tensor, by kind:
 *  - 'range':  each batch's finite [min, max], in batch order. Min-max replays
 *              them through MinMaxObserver's fold, plain or with any
 *              moving-average constant (which needs the per-batch ranges,
 *              not only the overall ones);
 *  - 'signed': the StreamingHistogram of x (percentile, mse);
 *  - 'abs':    the StreamingHistogram of |x| (entropy).
 * Each kind is accumulated exactly as the single-method observers did
 * (same batches, same order, same code), so a range derived from statistics
 * is the one a run for that method alone gives, bit for bit.
 */
import { McError } from '../errors';
import { HistogramMode, HistogramState, StreamingHistogram } from './histogram';
import { CalibrationMethod, finiteBatchRange, histogramModeOf, histogramRange, minMaxRange, TensorRange } from './observers';

export type StatisticKind = 'range' | 'signed' | 'abs';
export const STATISTIC_KINDS: readonly StatisticKind[] = ['range', 'signed', 'abs'];

/** The statistics a calibration method ranges from. */
export function kindOf(method: CalibrationMethod): StatisticKind {
  return histogramModeOf(method) ?? 'range';
}

/** One tensor's statistics. */
export class TensorStatistics {
  /** 'range': [min₀, max₀, min₁, max₁, ...], one pair per batch with a finite value. */
  ranges?: number[];
  signed?: StreamingHistogram;
  abs?: StreamingHistogram;
  /** The shape of the last batch read (batch axis included); undefined when no values were read (min-max alone takes in-graph reductions). */
  shape?: number[];

  constructor(kinds: ReadonlySet<StatisticKind>, bins: number) {
    if (kinds.has('range')) this.ranges = [];
    if (kinds.has('signed')) this.signed = new StreamingHistogram('signed', bins);
    if (kinds.has('abs')) this.abs = new StreamingHistogram('abs', bins);
  }

  /** A batch's range as onnxruntime's in-graph ReduceMin/ReduceMax gave it (finite). */
  foldRange(min: number, max: number): void {
    this.ranges?.push(min, max);
  }

  /** A batch's values: its range (unless `rangeDone`: the in-graph reduction gave it) and the histograms. */
  update(data: Float32Array, shape: readonly number[], rangeDone = false): void {
    this.shape = [...shape];
    if (this.ranges && !rangeDone) {
      const r = finiteBatchRange(data);
      if (r) this.ranges.push(r[0], r[1]);
    }
    this.signed?.update(data);
    this.abs?.update(data);
  }

  histogram(mode: HistogramMode): StreamingHistogram | undefined {
    return mode === 'abs' ? this.abs : this.signed;
  }
}

/** What calibration left: statistics per tensor and how they were gathered. */
export interface CalibrationStatistics {
  /** The kinds every tensor holds. */
  kinds: StatisticKind[];
  bins: number;
  tensors: Map<string, TensorStatistics>;
  samples: number;
  batches: number;
  batchSize: number;
  seconds: number;
  warnings: string[];
  observedIn: 'main' | 'worker';
}

export interface RangeOptions {
  /** Percentile method: percentage of values kept. */
  percentile: number;
  /** Min-max method: moving-average constant; undefined = plain min/max. */
  movingAverage?: number;
  /** The activations' integer grid (mse prices ranges on it). */
  qmin: number;
  qmax: number;
}

/** Every tensor's range by `method`, from statistics that hold its kind (McError otherwise: a caller's bug). */
export function rangesFrom(stats: CalibrationStatistics, method: CalibrationMethod, o: RangeOptions): Map<string, TensorRange> {
  const kind = kindOf(method);
  if (!stats.kinds.includes(kind)) throw new McError(`calibration statistics hold ${stats.kinds.join(', ') || 'nothing'}; ${method} needs '${kind}'`);
  const out = new Map<string, TensorRange>();
  for (const [name, t] of stats.tensors) out.set(name, rangeOf(t, method, o));
  return out;
}

export function rangeOf(t: TensorStatistics, method: CalibrationMethod, o: RangeOptions): TensorRange {
  const mode = histogramModeOf(method);
  if (mode === undefined) return minMaxRange(t.ranges ?? [], o.movingAverage);
  const h = t.histogram(mode);
  if (!h) throw new McError(`calibration statistics lack the ${mode} histogram ${method} needs`);
  return histogramRange(h, { method, percentile: o.percentile, qmin: o.qmin, qmax: o.qmax });
}

/** A tensor's statistics as plain data (JSON-safe once non-finite numbers are encoded: stats-file.ts). */
export interface TensorStatisticsState {
  shape?: number[];
  ranges?: number[];
  signed?: HistogramState;
  abs?: HistogramState;
}

export function tensorState(t: TensorStatistics): TensorStatisticsState {
  return {
    ...(t.shape ? { shape: t.shape } : {}), ...(t.ranges ? { ranges: [...t.ranges] } : {}),
    ...(t.signed ? { signed: t.signed.state() } : {}), ...(t.abs ? { abs: t.abs.state() } : {}),
  };
}

export function tensorFromState(s: TensorStatisticsState, bins: number): TensorStatistics {
  const t = new TensorStatistics(new Set(), bins);
  if (s.shape) t.shape = [...s.shape];
  if (s.ranges) t.ranges = [...s.ranges];
  if (s.signed) t.signed = StreamingHistogram.fromState(s.signed);
  if (s.abs) t.abs = StreamingHistogram.fromState(s.abs);
  return t;
}
