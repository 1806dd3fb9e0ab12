import { InputError } from '../errors';
import { formatShape } from './npy';
import type { Dataset, InputSpec } from './types';

export interface Validation {
  /**
   * The batch size the model fixes on its sample axis (e.g. 1 for an input
   * declared [1,3,224,224]), if any; batches must then be read at that size.
   */
  readonly fixedBatch?: number;
}

/**
 * Checks that the dataset feeds every model input with the exact dtype and a
 * compatible shape: same rank, equal fixed dims, any size where the model has a
 * symbolic or unknown dim. The sample axis is the first axis of both. Arrays
 * the model does not take are ignored. Throws a one-line InputError naming the
 * file, the input, what the model expects and what the file holds (its stored
 * shape, when a reader views it in the model's shape; see unitAxesView).
 */
export function validateAgainst(dataset: Dataset, specs: readonly InputSpec[]): Validation {
  const have = dataset.describe();
  let fixedBatch: number | undefined;
  for (const spec of specs) {
    const d = have.find((x) => x.name === spec.name);
    if (!d) {
      throw new InputError(`no data for model input '${spec.name}' (the data provides: ${have.map((x) => x.name).join(', ')})`, dataset.path);
    }
    const got = [dataset.count, ...d.shape];
    const stored = [dataset.count, ...(d.storedShape ?? d.shape)];
    const shapeOk = got.length === spec.shape.length
      && spec.shape.every((dim, i) => i === 0 || typeof dim !== 'number' || dim === got[i]);
    if (d.dtype !== spec.dtype || !shapeOk) {
      const hint = d.dtype !== spec.dtype ? `; store the data as ${spec.dtype}` : '';
      throw new InputError(`input '${spec.name}' expects ${formatShape(spec.dtype, spec.shape)}, got ${formatShape(d.dtype, stored)}${hint}`, d.file);
    }
    const b = spec.shape[0];
    if (typeof b === 'number' && b > 0) fixedBatch = fixedBatch === undefined ? b : Math.min(fixedBatch, b);
  }
  return fixedBatch === undefined ? {} : { fixedBatch };
}

/**
 * The model's per-sample shape, when a stored array holds the same row-major
 * bytes with its size-1 axes elsewhere (e.g. [1,28,28] for a model that takes
 * [28,28,1]: one channel, so NCHW and NHWC are the same bytes). That is: same
 * rank, and the same non-1 dims in the same order. `stored` is one sample's
 * shape; `model` the model's full shape, sample axis first. Undefined when the
 * shapes already agree, when they differ otherwise, or when the model leaves a
 * per-sample dim open (it may or may not be 1).
 */
export function unitAxesView(stored: readonly number[], model: readonly (number | string | null)[]): number[] | undefined {
  const want = model.slice(1);
  if (want.length !== stored.length || !want.every((d): d is number => typeof d === 'number' && Number.isInteger(d) && d >= 0)) return undefined;
  if (want.every((d, i) => d === stored[i])) return undefined;
  const big = (s: readonly number[]): string => s.filter((d) => d !== 1).join(',');
  return big(want) === big(stored) ? want : undefined;
}
