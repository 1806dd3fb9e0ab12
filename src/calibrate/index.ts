/**
 * Calibration: streaming observers (min-max, percentile, entropy, MSE) and the
 * runner that feeds them activations from onnxruntime, batch by batch.
 *
 *   const r = await calibrate(model, ['conv1_out', 'fc1_out'], 'calib.npy', { method: 'percentile' });
 *   r.ranges.get('conv1_out')  // { min, max }
 */
export { calibrate, checkCalibrationOptions, defaultCalibrationOptions, openCalibrationData } from './calibrate';
export type { CalibrationOptions, CalibrationResult } from './calibrate';
export { CALIBRATION_METHODS, createObserver, HistogramObserver, MinMaxObserver } from './observers';
export type { CalibrationMethod, Observer, ObserverOptions, TensorRange } from './observers';
export { DEFAULT_BINS, StreamingHistogram } from './histogram';
export type { HistogramMode } from './histogram';
export { entropyThresholdBins } from './entropy';
export type { EntropyResult } from './entropy';
export { mseRange } from './mse';
export type { MseResult } from './mse';
export { augmentedModelBytes, modelInputSpecs } from './augment';
