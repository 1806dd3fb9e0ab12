import * as fs from 'fs';
import { InputError } from '../errors';
import { ArraySource, npyFileSource, npzEntrySource } from './array-source';
import { samplesToRead, typedView } from './batching';
import { openForRead } from './io';
import { formatShape } from './npy';
import type { DataDType, Dataset } from './types';
import { readZipDirectory } from './zip';

/** Class ids for samples [start, start + count): shape [count] or [count, T] for sequence labels. */
export interface LabelBatch {
  readonly start: number;
  readonly count: number;
  readonly shape: number[];
  /** Ids widened to int32 (class ids never need 64 bits; out-of-range values are rejected). */
  readonly ids: Int32Array;
}

export interface Labels {
  readonly path: string;
  readonly count: number;
  /** The stored dtype. */
  readonly dtype: DataDType;
  /** Per-sample shape: [] for one class per sample, [T] for sequences. */
  readonly shape: number[];
  /** Batches in the same order and of the same sizes as Dataset.batches(batchSize, limit). */
  batches(batchSize: number, limit?: number): Iterable<LabelBatch>;
}

export interface LabelOptions {
  /** For an .npz: the array to read (`y` reads `y.npy`); optional when it holds one array. */
  key?: string;
}

const INTEGER: ReadonlySet<DataDType> = new Set(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32']);

/** Opens an .npy (or .npz entry) of integer class ids, shape [N] or [N, T]. */
export function openLabels(file: string, opts: LabelOptions = {}): Labels {
  const source = /\.npz$/i.test(file) ? npzLabelSource(file, opts.key) : npyFileSource(file);
  const { dtype, shape } = source.header;
  if (!INTEGER.has(dtype)) throw new InputError(`labels must be integer class ids, got ${formatShape(dtype, shape)}`, source.file);
  if (shape.length !== 1 && shape.length !== 2) throw new InputError(`labels must have shape [N] or [N,T], got ${formatShape(dtype, shape)}`, source.file);
  if (shape[0] === 0) throw new InputError('no samples (no labels)', source.file);
  return {
    path: file,
    count: shape[0],
    dtype,
    shape: shape.slice(1),
    *batches(batchSize: number, limit?: number): Iterable<LabelBatch> {
      const total = samplesToRead(shape[0], batchSize, limit);
      const reader = source.open();
      try {
        for (let start = 0; start < total; start += batchSize) {
          const count = Math.min(batchSize, total - start);
          const raw = typedView(dtype, reader.read(count));
          yield { start, count, shape: [count, ...shape.slice(1)], ids: toInt32(raw, source.file, start) };
        }
      } finally {
        reader.close();
      }
    },
  };
}

/** Throws unless there is exactly one label row per sample. */
export function checkLabelCount(labels: Labels, dataset: Dataset): void {
  if (labels.count !== dataset.count) {
    throw new InputError(`${labels.count} labels for ${dataset.count} samples in ${dataset.path}`, labels.path);
  }
}

function toInt32(raw: ReturnType<typeof typedView>, file: string, start: number): Int32Array {
  if (raw instanceof Int32Array) return raw;
  const out = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = Number(raw[i]);
    if (v > 0x7fffffff || v < -0x80000000) throw new InputError(`label ${v} (row ${start + i}) is not a class id`, file);
    out[i] = v;
  }
  return out;
}

function npzLabelSource(file: string, key: string | undefined): ArraySource {
  const fd = openForRead(file);
  try {
    const size = fs.fstatSync(fd).size;
    const entries = readZipDirectory(fd, size, file).filter((e) => e.name.endsWith('.npy'));
    const names = entries.map((e) => e.name.slice(0, -4));
    if (key === undefined && entries.length !== 1) {
      throw new InputError(`holds ${entries.length} arrays (${names.join(', ')}); name the labels array`, file);
    }
    const entry = key === undefined ? entries[0] : entries.find((e) => e.name === `${key}.npy`);
    if (!entry) throw new InputError(`no labels array '${key}' (the archive holds: ${names.join(', ')})`, file);
    return npzEntrySource(file, fd, size, entry);
  } finally {
    fs.closeSync(fd);
  }
}
