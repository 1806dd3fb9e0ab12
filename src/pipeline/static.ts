/**
 * Static int8 (QDQ) with calibration, as a pipeline step: the model-level
 * step a recipe runs (quantizeStaticModel) and the file job `mc quantize
 * --calib` runs (quantizeStaticFile: load → lift weights → static step →
 * onnxruntime load check → atomic write → sizes).
 */
import type { Dataset } from '../data';
import { IncompleteError, UnsupportedError } from '../errors';
import { loadModel, modelFiles } from '../formats';
import type { Model } from '../ir';
import { quantizeStatic, StaticQuantizeOptions, StaticQuantizeResult } from '../passes/quantize/static';
import { FileSizes, filesSize } from '../util/file-size';
import { VERSION } from '../version';
import { checkOutputPath, defaultOutputPath, writeOutput } from './output';
import { liftNotes, liftWeights } from './quantize';

export type { StaticQuantizeOptions, StaticQuantizeResult } from '../passes/quantize/static';

/** Where the calibration statistics come from. */
export interface StaticCalibrationSource {
  /** Calibration data: .npy, .npz, image folder, ONNX test-data folder, or an open Dataset. */
  data: string | Dataset;
  /** `--calib-cache` path: statistics read from here when they match, else computed and written here. */
  cache?: string;
}

export interface StaticStepContext {
  toolVersion?: string;
  progress?: (message: string) => void;
}

/** The static step on a model in memory (in place): calibrate on `calib`, then emit QDQ. ONNX only. */
export async function quantizeStaticModel(model: Model, options: Partial<StaticQuantizeOptions>, calib: StaticCalibrationSource, ctx: StaticStepContext = {}): Promise<StaticQuantizeResult> {
  if (calib.cache !== undefined) throw new UnsupportedError('--calib-cache: reading and writing calibration statistics is not built yet');
  return quantizeStatic(model, options, calib.data, { toolVersion: ctx.toolVersion ?? VERSION, progress: ctx.progress });
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
