import type { DType, Dim, NumericArray } from '../ir';

/** A tensor in host memory, as runtimes take and give them. `data` is the flat row-major element array. */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: NumericArray;
}

/** An input or output as the runtime declares it (symbolic or unknown dims allowed). */
export interface TensorInfo {
  name: string;
  /** undefined when the runtime does not say. */
  dtype?: DType;
  /** undefined when the rank is unknown. */
  shape?: Dim[];
}

/**
 * One loaded model behind a stock runtime (onnxruntime-node or tfjs).
 * eval and calibration talk only to this interface, so tests can substitute it.
 */
export interface ModelRunner {
  /** 'onnxruntime' or 'tfjs'. */
  readonly runtime: string;
  /** Execution provider / tfjs backend in use ('cpu', 'wasm', ...). */
  readonly backend: string;
  /** Intra-op threads, where the runtime lets us set them; null otherwise. */
  readonly threads: number | null;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Runs one batch; returns the requested outputs (all declared outputs by default), keyed by name. */
  run(feeds: ReadonlyMap<string, HostTensor>, fetch?: readonly string[]): Promise<Map<string, HostTensor>>;
  dispose(): Promise<void>;
}
