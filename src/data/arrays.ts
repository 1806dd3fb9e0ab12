import { InputError } from '../errors';
import type { ArraySource, RowReader } from './array-source';
import { samplesToRead, typedView, widenHalf } from './batching';
import { formatShape } from './npy';
import type { Batch, BatchTensor, Dataset, InputDescription } from './types';

/** A model input fed from one stored array. */
export interface ArrayBinding {
  readonly name: string;
  readonly source: ArraySource;
  /** Widen float16 storage to float32 batches (the model asked for float32). */
  readonly widen: boolean;
  /** One sample's shape as batches carry it, when it is not the stored one (only size-1 axes moved). */
  readonly view?: readonly number[];
}

/** A dataset of .npy arrays (one file, or the entries of an .npz) that share a sample axis. */
export class ArrayDataset implements Dataset {
  readonly count: number;

  constructor(readonly path: string, readonly kind: 'npy' | 'npz', private readonly bindings: readonly ArrayBinding[]) {
    const first = bindings[0];
    for (const b of bindings) {
      if (b.source.header.shape.length === 0) {
        throw new InputError(`array for input '${b.name}' is a scalar ${formatShape(b.source.header.dtype, [])}; it needs a leading sample axis`, b.source.file);
      }
      const perSample = b.source.header.shape.slice(1).reduce((a, d) => a * d, 1);
      if (perSample === 0 && b.source.header.shape[0] > 0) {
        // Zero-byte samples cost no data, so a 100-byte file could declare 2^40 of them and keep a reader looping for hours.
        throw new InputError(`array for input '${b.name}' has empty samples ${formatShape(b.source.header.dtype, b.source.header.shape)}`, b.source.file);
      }
      const n = b.source.header.shape[0];
      if (n !== first.source.header.shape[0]) {
        throw new InputError(`arrays disagree on the number of samples: '${first.name}' has ${first.source.header.shape[0]}, '${b.name}' has ${n}`, path);
      }
    }
    this.count = first.source.header.shape[0];
    if (this.count === 0) throw new InputError('no samples (the sample axis has length 0)', path);
  }

  describe(): InputDescription[] {
    return this.bindings.map(({ name, source, widen, view }) => ({
      name,
      dtype: widen ? 'float32' : source.header.dtype,
      ...(widen ? { storedDType: source.header.dtype } : {}),
      shape: view ? [...view] : source.header.shape.slice(1),
      ...(view ? { storedShape: source.header.shape.slice(1) } : {}),
      file: source.file,
    }));
  }

  *batches(batchSize: number, limit?: number): Iterable<Batch> {
    const total = samplesToRead(this.count, batchSize, limit);
    const readers: RowReader[] = [];
    try {
      for (const b of this.bindings) readers.push(b.source.open());
      for (let start = 0; start < total; start += batchSize) {
        const count = Math.min(batchSize, total - start);
        const inputs = new Map<string, BatchTensor>();
        this.bindings.forEach((b, i) => {
          const h = b.source.header;
          const shape = [count, ...(b.view ?? h.shape.slice(1))];
          const raw = typedView(h.dtype, readers[i].read(count));
          inputs.set(b.name, b.widen
            ? { dtype: 'float32', shape, data: widenHalf(raw as Uint16Array) }
            : { dtype: h.dtype, shape, data: raw });
        });
        yield { inputs, count, start };
      }
    } finally {
      for (const r of readers) r.close();
    }
  }
}
