/**
 * Typed options of static int8 quantization (`mc quantize --calib ...`),
 * shared by the CLI and the library. Defaults follow onnxruntime's
 * quantize_static: QDQ format, per-channel symmetric int8 weights, asymmetric
 * activations, min-max calibration.
 */
import { UsageError } from '../../../errors';
import type { PreprocessOptions } from '../../../data';
import { CALIBRATION_METHODS, CalibrationMethod, checkCalibrationChoice, DEFAULT_CALIBRATION_BATCH, DEFAULT_PERCENTILE } from '../calibration-methods';

export type ActivationType = 'int8' | 'uint8';

/**
 * The CPU the int8 model is meant for; it picks forms whose integer arithmetic is exact there
 * (src/passes/quantize/static/targets.ts).
 */
export type StaticTarget = 'portable' | 'avx512-vnni' | 'avx2' | 'arm64';
export const STATIC_TARGETS: readonly StaticTarget[] = ['portable', 'avx512-vnni', 'avx2', 'arm64'];

export interface StaticQuantizeOptions {
  calibrationMethod: CalibrationMethod;
  /** Percentile method: percentage of values kept. */
  percentile: number;
  /** Min-max method: moving-average constant; undefined = plain min/max. */
  movingAverage?: number;
  /** Calibration samples to read; undefined = all. */
  samples?: number;
  /** Samples per onnxruntime run during calibration. */
  batchSize: number;
  /** Activation storage: asymmetric int8 [-128, 127] (default) or uint8 [0, 255]. */
  activationType: ActivationType;
  /** Weights per tensor instead of per output channel. */
  perTensor: boolean;
  /** Node names or weight names (minimatch globs) to leave in float. */
  exclude: string[];
  /** Only quantize these op types (Conv, MatMul, Gemm, Add, Mul, ...); undefined = all supported. */
  opTypes?: string[];
  /** onnxruntime threads during calibration; default every core. */
  threads?: number;
  /** Image-folder preprocessing for the calibration data. */
  preprocess?: Partial<PreprocessOptions>;
  /**
   * Rewrite a first-layer Conv → MaxPool(2×2) as SpaceToDepth → Conv → Split → Max
   * (space-to-depth-pool.ts), where the target's forms allow it; with int8 activations
   * this stores them as uint8 (same values). 'measure' (default): where timing this
   * model both ways shows it pays; true: wherever it applies; false: never.
   */
  spaceToDepthPooling: boolean | 'measure';
  /**
   * Which MatMul/Gemm layers stay float because int8 would not pay (its Q/DQ and float
   * bias Add cost more than the integer kernel saves). 'measure' (default): time each
   * layer alone in both forms at the model's shapes; 'int8': none; a list of node names:
   * exactly those (the pinned decision a report prints, for reproducible runs).
   */
  smallLayers: SmallLayers;
  /** Which CPU the forms are chosen for (default 'portable': exact on every x86 and arm64 CPU). */
  target: StaticTarget;
  /**
   * Bias correction (`--bias-correction` with --mode static; recipe key bias-correction): each int8
   * layer's float bias shifted by (W − Ŵ)·E[x] before the bias is quantized (src/pipeline/static-bias-correction.ts).
   */
  biasCorrection?: boolean;
}

export type SmallLayers = 'measure' | 'int8' | string[];

export function defaultStaticOptions(): StaticQuantizeOptions {
  return {
    calibrationMethod: 'minmax', percentile: DEFAULT_PERCENTILE, batchSize: DEFAULT_CALIBRATION_BATCH,
    activationType: 'int8', perTensor: false, exclude: [], spaceToDepthPooling: 'measure', smallLayers: 'measure', target: 'portable',
  };
}

export function resolveStaticOptions(partial: Partial<StaticQuantizeOptions> = {}): StaticQuantizeOptions {
  const o: StaticQuantizeOptions = { ...defaultStaticOptions() };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  if (!CALIBRATION_METHODS.includes(o.calibrationMethod)) {
    throw new UsageError(`--calib-method must be one of ${CALIBRATION_METHODS.join(', ')}, got ${String(o.calibrationMethod)}`);
  }
  if (o.activationType !== 'int8' && o.activationType !== 'uint8') throw new UsageError(`--activation-type must be int8 or uint8, got ${String(o.activationType)}`);
  if (o.spaceToDepthPooling !== true && o.spaceToDepthPooling !== false && o.spaceToDepthPooling !== 'measure') {
    throw new UsageError(`--space-to-depth must be measure, on or off, got ${String(o.spaceToDepthPooling)}`);
  }
  if (!Array.isArray(o.smallLayers) && o.smallLayers !== 'measure' && o.smallLayers !== 'int8') {
    throw new UsageError(`--small-layers must be measure, int8, or a comma list of MatMul/Gemm node names to keep float, got ${String(o.smallLayers)}`);
  }
  if (!STATIC_TARGETS.includes(o.target)) throw new UsageError(`--target must be one of ${STATIC_TARGETS.join(', ')}, got ${String(o.target)}`);
  checkCalibrationChoice({ method: o.calibrationMethod, percentile: o.percentile, batchSize: o.batchSize, samples: o.samples, movingAverage: o.movingAverage });
  return o;
}

/** Integer grid of the activations (onnxruntime QuantType.QInt8 / QUInt8, full range). */
export function activationRange(t: ActivationType): { qmin: number; qmax: number } {
  return t === 'int8' ? { qmin: -128, qmax: 127 } : { qmin: 0, qmax: 255 };
}
