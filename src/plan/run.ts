/**
 * A plan on a model file: load → applyPlan → onnxruntime load check → atomic
 * write → sizes. `mc apply`, `mc quantize` and `mc prune` all end here, so a
 * recipe written by --recipe-out and applied by `mc apply` gives the same bytes.
 */
import * as path from 'path';
import { detectFormat, loadModel, modelFiles } from '../formats';
import { checkOutputPath, writeOutput } from '../pipeline/output';
import { liftNotes } from '../pipeline/quantize';
import { WeightStream } from '../pipeline/weight-stream';
import { FileSizes, filesSize } from '../util/file-size';
import { applyPlan, type PlanReport } from './apply';
import type { Plan } from './types';

export interface ApplyFileOptions {
  input: string;
  output: string;
  plan: Plan;
  force?: boolean;
  progress?: (message: string) => void;
}

export interface ApplyFileResult extends PlanReport {
  input: string;
  output: string;
  size: { before: FileSizes; after: FileSizes };
  /** Whether onnxruntime opened the result before it was written. */
  verified: boolean;
}

export async function applyPlanToFile(o: ApplyFileOptions): Promise<ApplyFileResult> {
  const progress = o.progress ?? (() => {});
  checkOutputPath(o.input, o.output, o.force === true);
  progress('loading');
  const model = loadModel(o.input);
  const steps = o.plan.steps;
  // gzip where it is the point: unstructured sparsity, and tfjs 4-bit, shrink only once compressed.
  const tfjs4 = detectFormat(o.input) === 'tfjs' && steps.some((s) => s.kind === 'quantize' && s.options.bits === 4);
  const gzip = tfjs4 || steps.some((s) => s.kind === 'prune' || (s.kind === 'finetune' && s.settings.prune !== undefined));
  const inputFiles = modelFiles(o.input, model);
  const before = await filesSize(inputFiles, { gzip });
  // An ONNX input with external data gives an output with external data: its weights are then
  // streamed to the data file one at a time instead of being encoded into one protobuf message.
  const externalData = model.format === 'onnx' && inputFiles.length > 1 ? true : undefined;
  // Weight quantization on worker threads, built tensors parked beside the output until written (weight-stream.ts).
  const weightStream = externalData ? new WeightStream({ spillDir: path.dirname(path.resolve(o.output)) }) : undefined;
  let report: PlanReport;
  let written: Awaited<ReturnType<typeof writeOutput>>;
  const verify = steps.every((s) => s.kind !== 'quantize' || s.verify);
  try {
    report = await applyPlan(model, o.plan, { label: o.input, progress, weightStream });
    written = await writeOutput(model, { input: o.input, output: o.output, force: o.force === true, verify, gzip, progress, externalData });
  } finally {
    weightStream?.removeSpill();
  }
  const notes = [...liftNotes(report.lifted), ...report.notes, ...written.notes];
  if (tfjs4) {
    notes.push('tfjs has no 4-bit storage: the 16 levels sit in uint8 bytes, so the files are no smaller than with --bits 8; only the gzip-compressed size shrinks further');
  }
  return { ...report, notes, input: o.input, output: o.output, size: { before, after: written }, verified: written.verified };
}
