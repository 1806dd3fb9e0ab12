import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../../errors';
import type { TensorData } from '../../ir';
import { resolveInside } from '../../util/safe-path';
import { MAX_BUFFER_BYTES, readFully, writeFully } from '../../util/file-io';
import type { StringStringEntryProto } from './proto-types';

/** A parsed TensorProto.external_data reference (https://onnx.ai/onnx/repo-docs/ExternalData.html). */
export interface ExternalRef {
  location: string;
  /** Absolute path after the escape checks. */
  path: string;
  offset: number;
  length?: number;
  checksum?: string;
}

/** Counts external-data reads; tests use it to prove loading stays lazy. */
export const externalDataStats = { reads: 0 };

export function parseExternalData(
  entries: readonly StringStringEntryProto[],
  tensorName: string,
  ctx: { file?: string; baseDir?: string },
): ExternalRef {
  const what = ctx.file ?? 'model';
  const get = (k: string): string | undefined => entries.find((e) => e.key === k)?.value;
  const location = get('location');
  if (location === undefined) throw new InputError(`tensor '${tensorName}' has external data without a location`, what);
  if (ctx.baseDir === undefined) {
    throw new InputError(`tensor '${tensorName}' has external data but the model folder is unknown (load the model from a file)`, what);
  }
  const full = resolveInside(ctx.baseDir, location, what);
  const offset = parseCount(get('offset'), 'offset', tensorName, what) ?? 0;
  const length = parseCount(get('length'), 'length', tensorName, what);
  return { location, path: full, offset, length, checksum: get('checksum') };
}

function parseCount(v: string | undefined, key: string, tensor: string, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
    throw new InputError(`tensor '${tensor}' has external data ${key} '${v}', which is not a byte count`, what);
  }
  return n;
}

/**
 * Lazy data over a slice of an external file. The file's existence and size are
 * checked now (cheap stat) so a broken model fails at load; bytes are read only
 * when a pass asks, one tensor at a time, and never cached.
 */
export function lazyExternalData(ref: ExternalRef, byteLength: number, tensorName: string): TensorData {
  checkExtent(ref, byteLength, tensorName);
  return {
    kind: 'lazy',
    byteLength,
    load: () => readExternal(ref, byteLength, tensorName),
  };
}

function checkExtent(ref: ExternalRef, byteLength: number, tensorName: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(ref.path);
  } catch {
    throw new InputError(`external data file for tensor '${tensorName}' is missing`, ref.path);
  }
  if (!st.isFile()) throw new InputError(`external data location for tensor '${tensorName}' is not a file`, ref.path);
  const size = st.size;
  if (ref.offset + byteLength > size) {
    throw new InputError(
      `external data file is too short for tensor '${tensorName}': needs bytes ${ref.offset}..${ref.offset + byteLength}, file has ${size}`,
      ref.path,
    );
  }
}

function readExternal(ref: ExternalRef, byteLength: number, tensorName: string): Uint8Array {
  externalDataStats.reads++;
  checkExtent(ref, byteLength, tensorName);
  if (byteLength > MAX_BUFFER_BYTES) {
    throw new InputError(`tensor '${tensorName}' is ${byteLength} bytes, more than one Node.js buffer holds (${MAX_BUFFER_BYTES}); mc cannot load it`, ref.path);
  }
  const out = new Uint8Array(byteLength);
  const fd = fs.openSync(ref.path, 'r');
  try {
    // In chunks: one fs.readSync refuses over 2^31 - 1 bytes, and a tensor may be larger.
    if (readFully(fd, out, ref.offset) < byteLength) throw new InputError(`external data file ended early for tensor '${tensorName}'`, ref.path);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** Bytes per step of copyExternal: the copy never holds a whole tensor. */
const COPY_CHUNK = 16 * 1024 * 1024;

/**
 * Streams a tensor's external bytes into `out` (a file descriptor at its current position)
 * through one reused buffer, without loading the tensor: a re-save of a multi-GB model then
 * needs a few MiB. Counts as one read in externalDataStats.
 */
export function copyExternal(ref: ExternalRef, byteLength: number, tensorName: string, out: number): void {
  externalDataStats.reads++;
  checkExtent(ref, byteLength, tensorName);
  const buf = new Uint8Array(Math.min(COPY_CHUNK, byteLength));
  const fd = fs.openSync(ref.path, 'r');
  try {
    for (let done = 0; done < byteLength;) {
      const part = buf.subarray(0, Math.min(buf.byteLength, byteLength - done));
      if (readFully(fd, part, ref.offset + done) < part.byteLength) throw new InputError(`external data file ended early for tensor '${tensorName}'`, ref.path);
      writeFully(out, part);
      done += part.byteLength;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A relative data-file name for a model file: `model.onnx` → `model.onnx.data`. */
export function defaultDataLocation(modelFile: string): string {
  return `${path.basename(modelFile)}.data`;
}
