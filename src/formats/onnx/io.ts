import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../../errors';
import type { Model, Tensor } from '../../ir';
import { StagedFiles, writeAll, writeTemp, writeTempWith } from '../../util/atomic';
import { resolveInside } from '../../util/safe-path';
import { decodeOnnx, encodeModel, inlineTensorBytes, modelTensors, PROTOBUF_LIMIT } from './codec';
import { copyExternal, defaultDataLocation, ExternalRef, lazyExternalData } from './external-data';
import type { StringStringEntryProto } from './proto-types';
import { onnxStorage } from './tensor-codec';

export interface ExternalDataOptions {
  /** Tensors of at least this many bytes go to the data file (default 1024). */
  threshold?: number;
  /** Data file name, relative to the model's folder (default `<model file name>.data`). */
  location?: string;
}

export interface OnnxSaveOptions {
  /**
   * true or an object: write tensors over the threshold to one data file beside the model.
   * false: everything inline. Unset: tensors that came from external data stay external.
   * A model over the protobuf limit is always written with external data.
   */
  externalData?: boolean | ExternalDataOptions;
  /** Largest inline weight total before external data is forced, and largest message written; the protobuf limit by default (lower it in tests). */
  maxProtoBytes?: number;
}

/** Bytes between external tensors start on multiples of this (cache-line / SIMD friendly; deterministic). */
const EXTERNAL_ALIGN = 64;
const DEFAULT_THRESHOLD = 1024;

export function loadOnnx(file: string): Model {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(e)})`, file);
  }
  return decodeOnnx(bytes, { file, baseDir: path.dirname(path.resolve(file)) });
}

/** Which tensors go to external data. */
function chooseExternal(model: Model, opts: OnnxSaveOptions): { external: Set<Tensor>; threshold: number } | undefined {
  const limit = opts.maxProtoBytes ?? PROTOBUF_LIMIT;
  const o = opts.externalData;
  const threshold = (typeof o === 'object' ? o.threshold : undefined) ?? DEFAULT_THRESHOLD;
  const external = new Set<Tensor>();
  const eligible = (t: Tensor): boolean => t.dtype !== 'string';
  if (o === undefined) {
    for (const t of modelTensors(model)) if (eligible(t) && onnxStorage(t)?.field === 'external') external.add(t);
  }
  if (o === true || typeof o === 'object' || inlineTensorBytes(model, (t) => external.has(t)) > limit) {
    // Initializers only, as onnx.external_data_helper does by default: runtimes
    // (onnxruntime included) do not all resolve external data inside attributes.
    for (const t of modelTensors(model, false)) if (eligible(t) && t.byteLength >= threshold) external.add(t);
  }
  return external.size ? { external, threshold } : undefined;
}

/**
 * The data file name: the option, else the single file the model already used
 * (when writing into another folder), else `<model>.data`. The old name is never
 * reused in the source's own folder: that would overwrite the input's data file
 * when a derived model (quantized, pruned) is written beside its original.
 */
function chooseLocation(external: Set<Tensor>, file: string, opts: OnnxSaveOptions): string {
  if (typeof opts.externalData === 'object' && opts.externalData.location) return opts.externalData.location;
  const used = new Set<string>();
  const sources = new Set<string>();
  for (const t of external) {
    const ref = onnxStorage(t)?.externalRef;
    if (ref) {
      used.add(ref.location);
      sources.add(path.resolve(ref.path));
    }
  }
  if (used.size === 1) {
    const only = [...used][0];
    const target = path.resolve(path.dirname(path.resolve(file)), only);
    if (!only.includes('/') && !only.includes('\\') && !sources.has(target)) return only;
  }
  return defaultDataLocation(file);
}

/** external_data entries for a tensor written at `offset`: keeps the original keys and their order, updating location/offset/length. */
function externalEntries(t: Tensor, location: string, offset: number, length: number): StringStringEntryProto[] {
  const old = onnxStorage(t)?.externalData;
  const values: Record<string, string> = { location, offset: String(offset), length: String(length) };
  const out: StringStringEntryProto[] = [];
  const seen = new Set<string>();
  for (const e of old ?? []) {
    const k = e.key ?? '';
    seen.add(k);
    if (k in values) out.push({ key: k, value: values[k] });
    else out.push({ ...e });
  }
  for (const k of ['location', 'offset', 'length']) if (!seen.has(k)) out.push({ key: k, value: values[k] });
  return out;
}

/**
 * Saves atomically. With external data the data file is streamed tensor by
 * tensor (lazy tensors are read one at a time), then the model file is written;
 * both go to temp names first and are renamed into place only once both are
 * complete (data file first), so no final name ever holds a partial file.
 */
export function saveOnnx(model: Model, file: string, opts: OnnxSaveOptions = {}): void {
  stageOnnx(model, file, opts).commit();
}

/**
 * saveOnnx up to the renames: the files are complete under temp names; commit()
 * renames them into place, abort() removes them. A caller can yield to the event
 * loop in between (a signal during the write is then handled before any rename).
 */
export function stageOnnx(model: Model, file: string, opts: OnnxSaveOptions = {}): StagedFiles {
  const staged = new StagedFiles();
  const plan = chooseExternal(model, opts);
  try {
    if (!plan) {
      staged.add(writeTemp(file, encodeProtoChecked(model, file, opts.maxProtoBytes)), file);
      return staged;
    }
    const dir = path.dirname(path.resolve(file));
    const location = chooseLocation(plan.external, file, opts);
    const dataPath = resolveInside(dir, location, file);
    materializeOverwrittenSources(model, plan.external, dataPath);
    const written = new Map<Tensor, { entries: StringStringEntryProto[]; offset: number; length: number }>();
    let bytes: Uint8Array | undefined;
    staged.add(writeTempWith(dataPath, (fd) => {
      let offset = 0;
      const pad = new Uint8Array(EXTERNAL_ALIGN);
      bytes = encodeProtoChecked(model, file, opts.maxProtoBytes, {
        externalize: (t) => {
          if (!plan.external.has(t)) return undefined;
          const done = written.get(t);
          if (done) return done.entries;
          const gap = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
          if (gap) writeAll(fd, pad.subarray(0, gap));
          offset += gap;
          // A weight still in its source file is copied through a small buffer, never loaded whole.
          const ref = t.isLazy ? onnxStorage(t)?.externalRef : undefined;
          let length: number;
          if (ref) {
            length = t.byteLength;
            copyExternal(ref, length, t.name, fd);
          } else {
            const data = t.bytes();
            writeAll(fd, data);
            length = data.byteLength;
          }
          const rec = { entries: externalEntries(t, location, offset, length), offset, length };
          written.set(t, rec);
          offset += length;
          return rec.entries;
        },
      });
    }), dataPath);
    staged.add(writeTemp(file, bytes!), file);
    staged.onCommit(() => rebindLazyTensors(model, written, { location, path: dataPath }));
    return staged;
  } catch (e) {
    staged.abort();
    throw e;
  }
}

/**
 * encodeModel, refusing a result that protobuf cannot represent: a message over
 * 2 GiB (2^31 - 1 bytes) is invalid protobuf, which onnx and onnxruntime refuse
 * or misread. chooseExternal moves weights out above the limit, so only a model
 * whose inline part alone is that large (one huge non-initializer tensor, e.g. a
 * Constant attribute) reaches this.
 */
function encodeProtoChecked(model: Model, file: string, limit = PROTOBUF_LIMIT, ctx?: Parameters<typeof encodeModel>[1]): Uint8Array {
  const bytes = encodeModel(model, ctx);
  if (bytes.byteLength > limit) {
    throw new InputError(`the ONNX message would be ${bytes.byteLength} bytes, over protobuf's limit of ${limit} bytes (2 GiB) even with initializers in external data (a tensor inside a node attribute is that large); nothing written`, file);
  }
  return bytes;
}

/**
 * Lazy tensors written to the new data file now read from it: their old
 * source may just have been replaced (re-saving over the same data file), and
 * reading the new file keeps them valid.
 */
function rebindLazyTensors(
  model: Model,
  written: Map<Tensor, { entries: StringStringEntryProto[]; offset: number; length: number }>,
  target: { location: string; path: string },
): void {
  for (const t of modelTensors(model)) {
    const st = onnxStorage(t);
    const rec = written.get(t);
    if (!t.isLazy) continue;
    if (rec) {
      const ref: ExternalRef = { location: target.location, path: target.path, offset: rec.offset, length: rec.length };
      const storage = { ...st, format: 'onnx' as const, field: 'external' as const, externalData: rec.entries, dataLocation: 1, externalRef: ref };
      t.setData(t.dtype, t.shape, lazyExternalData(ref, rec.length, t.name));
      t.storage = storage;
    }
  }
}

/** Lazy tensors that will be inlined but read from the data file about to be replaced are loaded first. */
function materializeOverwrittenSources(model: Model, external: Set<Tensor>, dataPath: string): void {
  for (const t of modelTensors(model)) {
    const st = onnxStorage(t);
    if (!t.isLazy || external.has(t) || st?.externalRef?.path !== dataPath) continue;
    t.setData(t.dtype, t.shape, { kind: 'bytes', bytes: t.bytes() });
    t.storage = { ...st, field: 'raw_data', externalData: undefined, dataLocation: undefined, externalRef: undefined };
  }
}
