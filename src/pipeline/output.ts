/**
 * What every model-rewriting command (quantize, prune) does around its pass:
 * name the output, check the result loads in the stock runtime, write it
 * atomically without touching the input, and measure it.
 */
import * as path from 'path';
import { McError } from '../errors';
import { detectFormat, isNamedTfjsJson, modelFiles, modelRoot, stageModel } from '../formats';
import { encodeOnnx } from '../formats/onnx';
import type { Model } from '../ir';
import { OrtRunner } from '../runtime/ort-session';
import { checkNotOverwritingInput } from '../util/atomic';
import { FileSizes, filesSize } from '../util/file-size';

/** Models with at most this many bytes of weights are opened in onnxruntime before anything is written. */
export const VERIFY_LIMIT_BYTES = 100 * 1024 * 1024;

/** `model.onnx` → `model.<tag>.onnx`; a tfjs folder `m/` (or `m/model.json`) → the sibling folder `m-<tag>`; `d/m.json` → the folder `d/m-<tag>`. */
export function defaultOutputPath(input: string, tag: string): string {
  if (detectFormat(input) === 'onnx') {
    const ext = path.extname(input);
    return path.join(path.dirname(input), `${path.basename(input, ext)}.${tag}${ext}`);
  }
  // `models/emotion.json` (one of several models in a folder) → the folder `models/emotion-<tag>`.
  const root = modelRoot(input).replace(/[\\/]+$/, '');
  return `${isNamedTfjsJson(root) ? root.slice(0, -path.extname(root).length) : root}-${tag}`;
}

/** mc built a model the stock runtime rejects: mc's bug, so exit 3 with the report-a-bug hint. */
export class OutputRejectedError extends McError {}

/** Opens the encoded ONNX model in onnxruntime; throws OutputRejectedError when it refuses. */
export async function checkLoadsInOrt(model: Model, label: string): Promise<void> {
  let runner: OrtRunner;
  try {
    runner = await OrtRunner.create(encodeOnnx(model), { label });
  } catch (e) {
    throw new OutputRejectedError(`the rewritten model failed onnxruntime's load check, nothing was written: ${(e as Error).message}`);
  }
  await runner.dispose();
}

export interface WriteOutputOptions {
  input: string;
  output: string;
  /** Allow the output to replace the input (or a non-model folder). */
  force: boolean;
  /** Open ONNX results in onnxruntime before writing (skipped above VERIFY_LIMIT_BYTES). */
  verify: boolean;
  /** Also measure the gzip size of the written files. */
  gzip: boolean;
  progress?: (message: string) => void;
  /** ONNX: true writes every tensor of 1 KiB or more to `<output>.data` (see formats saveModel); unset keeps the model's own layout. */
  externalData?: boolean;
}

export interface WrittenOutput extends FileSizes {
  output: string;
  files: string[];
  /** Whether onnxruntime opened the result before it was written. */
  verified: boolean;
  notes: string[];
}

/** Refuses to replace the input unless forced; call before the (possibly long) pass runs. */
export function checkOutputPath(input: string, output: string, force: boolean): void {
  checkNotOverwritingInput(modelRoot(input), modelRoot(output), force);
}

/** Checks (ONNX) and writes `model` to `o.output` atomically; nothing is written when the check fails. */
export async function writeOutput(model: Model, o: WriteOutputOptions): Promise<WrittenOutput> {
  const progress = o.progress ?? (() => {});
  checkOutputPath(o.input, o.output, o.force);
  const notes: string[] = [];
  const verified = model.format === 'onnx' && o.verify ? await openBeforeWriting(model, o.output, notes, progress) : false;
  progress(`writing ${o.output}`);
  const staged = stageModel(model, o.output, { force: o.force, externalData: o.externalData });
  // A SIGINT/SIGTERM that came during the (synchronous) write is handled here, before any
  // rename: the CLI's handler removes the temp files and exits, so no final name is touched.
  await new Promise((resolve) => setImmediate(resolve));
  staged.commit();
  // With external data asked for, tensors built in memory went to the data file too but keep no
  // record of it: read the (small) written model file to list its files.
  const files = modelFiles(o.output, model.format === 'onnx' && !o.externalData ? model : undefined);
  return { output: o.output, files, ...(await filesSize(files, { gzip: o.gzip })), verified, notes };
}

/**
 * Opens an ONNX result in onnxruntime before it is written (true), unless its weights are over
 * VERIFY_LIMIT_BYTES: then a note says so (false).
 */
export async function openBeforeWriting(model: Model, output: string, notes: string[], progress: (message: string) => void): Promise<boolean> {
  if (weightBytes(model) > VERIFY_LIMIT_BYTES) {
    notes.push(`not opened in onnxruntime before writing (weights over ${VERIFY_LIMIT_BYTES / 1024 / 1024} MiB)`);
    return false;
  }
  progress('checking the result in onnxruntime');
  await checkLoadsInOrt(model, output);
  return true;
}

function weightBytes(model: Model): number {
  let n = 0;
  for (const v of model.weights()) n += v.const?.byteLength ?? 0;
  return n;
}
