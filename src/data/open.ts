import * as fs from 'fs';
import { InputError } from '../errors';
import { ImageFolderDataset } from './images';
import { openForRead, readAt, statOrThrow } from './io';
import { OnnxTestDataDataset } from './onnx-test-data';
import { openNpy, openNpz } from './open-arrays';
import type { Dataset, DatasetOptions } from './types';

/**
 * Opens a dataset by what the path is:
 *   - a file: .npy or .npz (by extension, else by its first bytes);
 *   - a folder with test_data_set_* subfolders: ONNX test data;
 *   - any other folder: images (.png, .jpg, .jpeg).
 * Only headers are read here; samples are read batch by batch.
 */
export function openDataset(path: string, opts: DatasetOptions = {}): Dataset {
  const st = statOrThrow(path);
  if (st.isDirectory()) {
    const hasSets = fs.readdirSync(path).some((n) => /^test_data_set_\d+$/.test(n));
    return hasSets ? new OnnxTestDataDataset(path, opts.inputs) : new ImageFolderDataset(path, opts.inputs, opts.preprocess);
  }
  if (/\.npy$/i.test(path)) return openNpy(path, opts.inputs);
  if (/\.npz$/i.test(path)) return openNpz(path, opts.inputs);
  const magic = sniff(path, st.size);
  if (magic === 'npy') return openNpy(path, opts.inputs);
  if (magic === 'zip') return openNpz(path, opts.inputs);
  throw new InputError('not a dataset: expected an .npy or .npz file, or a folder of images or ONNX test data', path);
}

function sniff(path: string, size: number): 'npy' | 'zip' | undefined {
  if (size < 6) return undefined;
  const fd = openForRead(path);
  try {
    const b = readAt(fd, 6, 0, path);
    if (b[0] === 0x93 && String.fromCharCode(...b.subarray(1)) === 'NUMPY') return 'npy';
    if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 3 && b[3] === 4) return 'zip';
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
