import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { ArraySource, npyFileSource, npzEntrySource } from './array-source';
import { ArrayBinding, ArrayDataset } from './arrays';
import { openForRead } from './io';
import type { InputSpec } from './types';
import { unitAxesView } from './validate';
import { readZipDirectory } from './zip';

/** A single .npy feeds the model's single input (or, without specs, an input named after the file). */
export function openNpy(file: string, inputs?: readonly InputSpec[]): ArrayDataset {
  const source = npyFileSource(file);
  if (inputs && inputs.length > 1) {
    throw new InputError(`the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}) but an .npy holds one array; use an .npz with one array per input name`, file);
  }
  const spec = inputs?.[0];
  const name = spec?.name ?? path.basename(file).replace(/\.npy$/i, '');
  return new ArrayDataset(file, 'npy', [bind(name, source, spec)]);
}

/**
 * An .npz feeds inputs by name: entry `x.npy` → input `x`. With model specs,
 * each input must have its array (extra arrays, such as labels, are left
 * alone), except that a one-array archive feeds a one-input model whatever
 * the names. Without specs, every array becomes an input.
 */
export function openNpz(file: string, inputs?: readonly InputSpec[]): ArrayDataset {
  const fd = openForRead(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) throw new InputError('empty file, not an .npz archive', file);
    const entries = readZipDirectory(fd, size, file).filter((e) => !e.name.endsWith('/'));
    const arrays = new Map(entries.map((e) => {
      if (!e.name.endsWith('.npy')) throw new InputError(`archive entry '${e.name}' is not an .npy array`, file);
      return [e.name.slice(0, -4), e] as const;
    }));
    if (arrays.size === 0) throw new InputError('no samples (the archive holds no arrays)', file);
    const source = (key: string): ArraySource => npzEntrySource(file, fd, size, arrays.get(key)!);

    let bindings: ArrayBinding[];
    if (!inputs) {
      bindings = [...arrays.keys()].map((k) => bind(k, source(k)));
    } else if (arrays.size === 1 && inputs.length === 1) {
      bindings = [bind(inputs[0].name, source([...arrays.keys()][0]), inputs[0])];
    } else {
      bindings = inputs.map((spec) => {
        if (!arrays.has(spec.name)) {
          throw new InputError(`no array '${spec.name}.npy' for model input '${spec.name}' (the archive holds: ${[...arrays.keys()].join(', ')})`, file);
        }
        return bind(spec.name, source(spec.name), spec);
      });
    }
    return new ArrayDataset(file, 'npz', bindings);
  } finally {
    fs.closeSync(fd);
  }
}

function bind(name: string, source: ArraySource, spec?: InputSpec): ArrayBinding {
  const view = spec && unitAxesView(source.header.shape.slice(1), spec.shape);
  return { name, source, widen: spec?.dtype === 'float32' && source.header.dtype === 'float16', ...(view ? { view } : {}) };
}
