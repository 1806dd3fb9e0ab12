/**
 * The calibration choices a static quantization names: the four methods and
 * their settings' defaults and bounds. They live here, below src/calibrate
 * (which implements the methods and imports this file), so that quantization
 * options can be typed and checked without the passes importing the
 * calibration runner.
 */
import { UsageError } from '../../errors';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];

/** Percentage of values the percentile method keeps by default. */
export const DEFAULT_PERCENTILE = 99.999;
/** Samples per onnxruntime run during calibration by default. */
export const DEFAULT_CALIBRATION_BATCH = 32;

export interface CalibrationChoice {
  method: CalibrationMethod;
  percentile: number;
  batchSize: number;
  samples?: number;
  movingAverage?: number;
}

/** UsageError naming the flag, for a choice out of bounds. */
export function checkCalibrationChoice(o: CalibrationChoice): void {
  if (!CALIBRATION_METHODS.includes(o.method)) throw new UsageError(`--calib-method must be one of ${CALIBRATION_METHODS.join(', ')}, got ${String(o.method)}`);
  if (!(o.percentile > 0 && o.percentile <= 100)) throw new UsageError(`--percentile must be in (0, 100], got ${String(o.percentile)}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new UsageError(`--batch-size must be a positive integer, got ${String(o.batchSize)}`);
  if (o.samples !== undefined && (!Number.isInteger(o.samples) || o.samples < 1)) throw new UsageError(`--calib-samples must be a positive integer, got ${String(o.samples)}`);
  if (o.movingAverage !== undefined && !(o.movingAverage > 0 && o.movingAverage <= 1)) throw new UsageError(`moving-average constant must be in (0, 1], got ${String(o.movingAverage)}`);
}
