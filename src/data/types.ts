import type { DType } from '../ir/dtype';
import type { NumericArray } from '../ir/tensor';

/** Element types a data file may hold (the numeric subset of the IR's DType). */
export type DataDType =
  | 'float32' | 'float16' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool';

/**
 * One input's slice of a batch. `data` is the natural typed array for `dtype`
 * (float16 as raw Uint16Array bits, bool as Uint8Array 0/1, int64 as
 * BigInt64Array), which is what onnxruntime-node's Tensor constructor takes.
 * It is a view over the bytes read for this batch; no copy is made.
 */
export interface BatchTensor {
  readonly dtype: DataDType;
  /** Full shape, sample axis first: [count, ...perSample]. */
  readonly shape: number[];
  readonly data: NumericArray;
}

/** Samples [start, start + count) of a dataset, keyed by model input name. */
export interface Batch {
  readonly inputs: Map<string, BatchTensor>;
  readonly count: number;
  readonly start: number;
}

/** A model input, as the model declares it. Symbolic (string) or unknown (null) dims accept any size. */
export interface InputSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly (number | string | null)[];
}

/** What a dataset feeds into one input. */
export interface InputDescription {
  readonly name: string;
  /** The dtype batches carry (after an allowed float16 → float32 widening, see DatasetOptions). */
  readonly dtype: DataDType;
  /** The dtype stored in the file, when it differs from `dtype`. */
  readonly storedDType?: DataDType;
  /** Shape of one sample (the file's shape without its leading sample axis, or the model's; see storedShape). */
  readonly shape: number[];
  /**
   * One sample's shape in the file, when batches view it in the model's shape
   * instead: only size-1 axes moved, so the bytes are the same (e.g. stored
   * [1,28,28] fed as [28,28,1]). No copy is made.
   */
  readonly storedShape?: number[];
  /** The file (or `archive.npz:name.npy` entry, or folder) the values come from, for messages. */
  readonly file: string;
}

export interface Dataset {
  /** The path the dataset was opened from, as the caller gave it. */
  readonly path: string;
  readonly kind: 'npy' | 'npz' | 'onnx-test-data' | 'images';
  /** Number of samples (length of the sample axis). */
  readonly count: number;
  describe(): InputDescription[];
  /**
   * Batches in sample order. Each call starts a fresh pass, so a dataset can be
   * read for calibration and again for evaluation. At most `limit` samples are
   * read; the last batch may be short. Breaking out of the loop releases the files.
   * ONNX test-data folders ignore `batchSize`: each test_data_set_k is one batch.
   */
  batches(batchSize: number, limit?: number): Iterable<Batch>;
}

export interface DatasetOptions {
  /**
   * The model's inputs. They name the array of a single-array file, pick the
   * arrays of an .npz by name, map .pb tensors without names by index, and give
   * images their default size, layout and channel count. When an input wants
   * float32 and the file stores float16, batches are widened to float32 (a
   * lossless conversion). An .npy/.npz array whose shape differs from its
   * input's only by where size-1 axes sit is viewed in the input's shape (the
   * same bytes; see unitAxesView). No other conversion is made implicitly.
   */
  inputs?: readonly InputSpec[];
  /** Image folders only; unset fields are resolved from `inputs` (see resolvePreprocess). */
  preprocess?: Partial<import('./preprocess').PreprocessOptions>;
}
