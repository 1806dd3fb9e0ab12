/**
 * Calibration: one pass of the model over the data feeding statistics (batch
 * ranges, histograms of x and |x|) and any other activation sinks; the ranges
 * of every method (min-max, percentile, entropy, MSE) derive from them.
 *
 *   const stats = await collectStatistics(model, ['conv1_out', 'fc1_out'], 'calib.npy');
 *   rangesFrom(stats, 'percentile', { percentile: 99.99, qmin: -128, qmax: 127 }).get('conv1_out')  // { min, max }
 *   const r = await calibrate(model, ['conv1_out'], 'calib.npy', { method: 'entropy' });  // one method: both steps
 */
export { calibrate, checkCalibrationOptions, collectStatistics, defaultCalibrationOptions, defaultStatisticsOptions, openCalibrationData } from './calibrate';
export type { CalibrationOptions, CalibrationResult, StatisticsOptions } from './calibrate';
export type { ActivationSink } from './sink';
export { kindOf, rangeOf, rangesFrom, STATISTIC_KINDS, TensorStatistics } from './statistics';
export type { CalibrationStatistics, RangeOptions, StatisticKind, TensorStatisticsState } from './statistics';
export { CALIBRATION_METHODS, createObserver, finiteBatchRange, HistogramObserver, histogramRange, MinMaxObserver, minMaxRange } from './observers';
export type { CalibrationMethod, Observer, ObserverOptions, TensorRange } from './observers';
export { DEFAULT_BINS, StreamingHistogram } from './histogram';
export type { HistogramMode, HistogramState } from './histogram';
export { entropyThresholdBins } from './entropy';
export type { EntropyResult } from './entropy';
export { mseRange } from './mse';
export type { MseResult } from './mse';
export { augmentedModelBytes, modelInputSpecs } from './augment';
