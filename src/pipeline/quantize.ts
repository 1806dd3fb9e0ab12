/**
 * Quantize a model file: load → quantize pass (weight-only / dynamic) →
 * onnxruntime load check → atomic write → sizes. Static int8 with
 * calibration is in static.ts.
 * Nothing is written when any step fails, and the input is never replaced
 * unless `force`.
 */
import * as path from 'path';
import { detectFormat, loadModel, modelFiles } from '../formats';
import { IncompleteError } from '../errors';
import { liftConstantsPass, LiftReport } from '../graph/lift-constants';
import type { Model } from '../ir';
import { coverageOf, incompleteness } from '../passes/quantize/select';
import { DEFAULT_BACKUP, withBackup, type BackupChoice, type BackupPolicy } from '../passes/quantize/backup';
import { quantizePass, QuantizeOptions, QuantizeReport, runPass } from '../passes';
import { needsReconstruction } from '../passes/quantize/options';
import { UsageError } from '../errors';
import { reconstructForQuantize, type ReconstructDataOptions, type ReconstructReport } from './reconstruct';
import { FileSizes, filesSize } from '../util/file-size';
import { VERSION } from '../version';
import { WeightStream } from './weight-stream';
import { checkOutputPath, defaultOutputPath, writeOutput } from './output';
import { fitQuantizationToOutputs, outputCheckFor, type OutputCheckOptions, type OutputCheckReport } from './verify-outputs';

export interface QuantizeFileOptions {
  input: string;
  /** Default: model.int8.onnx / model.int4.onnx, or the sibling folder m-int8/ for tfjs. */
  output?: string;
  quantize: QuantizeOptions;
  /** Open ONNX results in onnxruntime before writing (default true). */
  verify?: boolean;
  force?: boolean;
  /** Write the result even when it quantized less than asked (see passes/quantize/select.ts incompleteness); default false: IncompleteError. */
  allowPartial?: boolean;
  progress?: (message: string) => void;
  /** The output check (verify-outputs.ts); default: a 30 dB bound for 8-bit weight-only runs, measured only otherwise; false: off. */
  outputCheck?: OutputCheckOptions | false;
  /** Backup precision of the embedding and last layer (passes/quantize/backup.ts); default int8. */
  backup?: BackupPolicy;
  /** Calibration data for --method gptq / --clip-search / --bias-correction (reconstruct.ts). */
  reconstruct?: ReconstructDataOptions;
}

export interface QuantizeFileResult {
  input: string;
  output: string;
  report: QuantizeReport;
  /** All files of the model, before and after (raw and gzip). */
  size: { before: FileSizes; after: FileSizes };
  /** Whether onnxruntime opened the result before it was written. */
  verified: boolean;
  notes: string[];
  /** Constant nodes lifted to initializers before quantizing (ONNX). */
  lifted: LiftReport;
  /** The outputs measured in the stock runtime and what was backed off (absent with outputCheck false). */
  outputCheck?: OutputCheckReport;
  /** GPTQ / clip search / bias correction per layer (absent when not asked). */
  reconstruct?: ReconstructReport;
}

export async function quantizeFile(o: QuantizeFileOptions): Promise<QuantizeFileResult> {
  const progress = o.progress ?? (() => {});
  const output = o.output ?? defaultOutputPath(o.input, `int${o.quantize.bits}`);
  checkOutputPath(o.input, output, o.force === true);
  progress('loading');
  const model = loadModel(o.input);
  // Pass the loaded model so the file is not decoded a second time (peak memory).
  // gzip only where it is the point: tfjs 4-bit shrinks only once compressed.
  const gzip = detectFormat(o.input) === 'tfjs' && o.quantize.bits === 4;
  const inputFiles = modelFiles(o.input, model);
  const before = await filesSize(inputFiles, { gzip });
  // An ONNX input with external data gives an output with external data: its weights are then
  // streamed to the data file one at a time instead of being encoded into one protobuf message.
  const externalData = model.format === 'onnx' && inputFiles.length > 1 ? true : undefined;
  const lifted = liftWeights(model, progress);
  const check = outputCheckFor(o.quantize, o.outputCheck);
  const stream = externalData ? new WeightStream({ spillDir: path.dirname(path.resolve(output)) }) : undefined;
  let report: QuantizeReport;
  let outputCheck: OutputCheckReport | undefined;
  let reconstruct: ReconstructReport | undefined;
  let written: Awaited<ReturnType<typeof writeOutput>>;
  try {
    ({ report, outputCheck, reconstruct } = await quantizeModel(model, o.quantize, { label: o.input, check, allowPartial: o.allowPartial, progress, backup: o.backup, reconstruct: o.reconstruct, stream }));
    written = await writeOutput(model, { input: o.input, output, force: o.force === true, verify: o.verify !== false, gzip, progress, externalData });
  } finally {
    stream?.removeSpill();
  }
  const notes = [...liftNotes(lifted), ...written.notes];
  if (gzip) {
    notes.push('tfjs has no 4-bit storage: the 16 levels sit in uint8 bytes, so the files are no smaller than with --bits 8; only the gzip-compressed size shrinks further');
  }
  return { input: o.input, output, report, size: { before, after: written }, verified: written.verified, notes, lifted, outputCheck, reconstruct };
}

export interface QuantizeModelOptions {
  /** Names the model in errors (its path). */
  label: string;
  /** The output check as it runs (outputCheckFor gives the defaults); undefined: none. */
  check?: OutputCheckOptions;
  /** Keep a result that quantized less than asked (a warning); default false: IncompleteError. */
  allowPartial?: boolean;
  progress?: (message: string) => void;
  /** Backup precision of the embedding and last layer (passes/quantize/backup.ts); default DEFAULT_BACKUP (int8). */
  backup?: BackupPolicy;
  /** Calibration data for reconstruction (GPTQ, clip search, bias correction); required when the options ask for one. */
  reconstruct?: ReconstructDataOptions;
  /** Quantize on worker threads and park built tensors in a spill file (weight-stream.ts); the caller removes the spill after writing. */
  stream?: WeightStream;
}

/**
 * Weight-only / dynamic quantization of a model in memory (in place): the output check and
 * its back-off first when asked, then the quantize pass, then the coverage check.
 */
export async function quantizeModel(model: Model, asked: QuantizeOptions, o: QuantizeModelOptions): Promise<{ report: QuantizeReport; outputCheck?: OutputCheckReport; reconstruct?: ReconstructReport }> {
  const progress = o.progress ?? (() => {});
  // The embedding and last layer at backup precision first, so the output check measures the forms written.
  const backup = withBackup(model, asked, o.backup ?? DEFAULT_BACKUP);
  let options = backup.options;
  // GPTQ / clip search levels and bias shifts from the layers' inputs (reconstruct.ts), after the backup precision is set.
  let reconstruct: ReconstructReport | undefined;
  if (needsReconstruction(options)) {
    if (!o.reconstruct) throw new UsageError('--method gptq, --clip-search and --bias-correction need calibration data: give --calib FILE (inputs of the model)');
    ({ options, report: reconstruct } = await reconstructForQuantize(model, options, o.reconstruct, progress));
  }
  // The outputs checked in the stock runtime, weights backed off until they meet the bound (verify-outputs.ts).
  const fit = o.check && await fitQuantizationToOutputs(model, options, o.check, progress);
  const final = fit ? fit.options : options;
  o.stream?.prepare(model, final);
  let report: QuantizeReport;
  try {
    ({ changes: report } = runPass(quantizePass(final, undefined, o.stream), model, { toolVersion: VERSION, progress }));
  } finally {
    await o.stream?.close();
  }
  if (fit) chargeFloatBackOffs(report, fit.report);
  recordBackup(report, backup.chosen);
  const partial = incompleteness(report);
  if (partial && o.allowPartial !== true) {
    throw new IncompleteError(`${o.label}: ${partial.summary}; nothing written (--allow-partial writes it anyway)`, partial.details);
  }
  if (partial) report.warnings.push(`partial: ${partial.summary}`);
  return { report, outputCheck: fit ? fit.report : undefined, reconstruct };
}

/** The weights that took the backup precision, with why; a weight kept float by it says so in its skipped line. */
function recordBackup(report: QuantizeReport, chosen: readonly BackupChoice[]): void {
  report.backup = [...chosen];
  const why = new Map(chosen.map((c) => [c.name, c.reason]));
  for (const s of report.skipped) if (s.kind === 'excluded' && why.has(s.name)) s.reason = `backup precision: ${why.get(s.name)!}`;
}

/**
 * Weights the output check sent back to float reach the pass as exclusions (its only way to keep
 * a weight float); they are not the user's choice, so they count against the coverage like any
 * weight mc could not take, with the check's reason and the inputs it was measured on.
 */
function chargeFloatBackOffs(report: QuantizeReport, check: OutputCheckReport): void {
  const toFloat = new Map(check.backedOff.filter((b) => b.to === 'float').map((b) => [b.name, b]));
  if (!toFloat.size) return;
  const on = check.inputs.source === 'synthetic' ? 'synthetic inputs (give --eval-data with real ones)' : check.inputs.description;
  for (const s of report.skipped) {
    const b = toFloat.get(s.name);
    if (b) {
      s.kind = 'output-check';
      s.reason = `kept float by the output check on ${on}: ${b.reason}`;
    }
  }
  report.coverage = coverageOf(report.tensors, report.skipped);
}

/** ONNX: weight-holding Constant nodes become initializers first, so the passes see every weight (src/graph/lift-constants.ts). */
export function liftWeights(model: Model, progress?: (message: string) => void): LiftReport {
  return runPass(liftConstantsPass(), model, { toolVersion: VERSION, progress }).changes;
}

/** The report line for lifted constants: the output's graph differs from the input's in that way too. */
export function liftNotes(r: LiftReport): string[] {
  const notes: string[] = [];
  if (r.lifted.length) {
    const inSub = r.lifted.filter((l) => l.inSubgraph).length;
    notes.push(`${r.lifted.length} Constant node(s) holding weights became initializers${inSub ? ` (${inSub} inside subgraphs)` : ''}`);
  }
  for (const k of r.kept) notes.push(`Constant '${k.name}' left as a node: ${k.reason}`);
  return notes;
}
