import * as ort from 'onnxruntime-node';
import type { DType, Dim, NumericArray } from '../ir';
import { InputError } from '../errors';
import type { HostTensor, ModelRunner, TensorInfo } from './runner';

export interface OrtSessionOptions {
  /** intraOpNumThreads; 1 keeps timings reproducible on shared CI machines. */
  threads?: number;
  /** Names the model in error messages when it is given as bytes. */
  label?: string;
}

const ORT_TO_DTYPE: Readonly<Record<string, DType>> = {
  float32: 'float32', float16: 'float16', float64: 'float64',
  int8: 'int8', int16: 'int16', int32: 'int32', int64: 'int64',
  uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64',
  bool: 'bool', string: 'string', int4: 'int4', uint4: 'uint4',
};

function infoOf(m: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!m.isTensor) return { name: m.name };
  const shape: Dim[] = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d ? d : null));
  return { name: m.name, dtype: ORT_TO_DTYPE[m.type], shape };
}

/** ORT's JS binding takes sub-byte and float16 data as the same typed arrays we hold; only the type tag differs for bool. */
function toOrtTensor(t: HostTensor): ort.Tensor {
  const type = t.dtype as ort.Tensor.Type;
  return new ort.Tensor(type, t.data as ort.Tensor.DataType, t.shape);
}

function fromOrtTensor(t: ort.Tensor): HostTensor {
  const dtype = ORT_TO_DTYPE[t.type];
  if (!dtype || dtype === 'string') throw new InputError(`output of type ${t.type} is not supported for evaluation`);
  return { dtype, shape: [...t.dims], data: t.data as NumericArray };
}

/** A ModelRunner over onnxruntime-node's CPU execution provider, graph optimizations 'all'. */
export class OrtRunner implements ModelRunner {
  readonly runtime = 'onnxruntime';
  readonly backend = 'cpu';
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];

  private constructor(private readonly session: ort.InferenceSession, readonly threads: number) {
    this.inputs = session.inputMetadata.map(infoOf);
    this.outputs = session.outputMetadata.map(infoOf);
  }

  /** Opens a session from a file path (external data resolves beside it) or from in-memory model bytes. */
  static async create(model: string | Uint8Array, opts: OrtSessionOptions = {}): Promise<OrtRunner> {
    const threads = opts.threads ?? 1;
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Errors only: ORT's warnings (old opsets, initializers listed as inputs) would bury mc's own output.
      logSeverityLevel: 3,
    };
    const label = opts.label ?? (typeof model === 'string' ? model : 'model');
    try {
      const session = typeof model === 'string'
        ? await ort.InferenceSession.create(model, options)
        : await ort.InferenceSession.create(model, options);
      return new OrtRunner(session, threads);
    } catch (e) {
      throw new InputError(`onnxruntime cannot load the model: ${firstLine(e)}`, label);
    }
  }

  async run(feeds: ReadonlyMap<string, HostTensor>, fetch?: readonly string[]): Promise<Map<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of feeds) ortFeeds[name] = toOrtTensor(t);
    const names = fetch ?? this.outputs.map((o) => o.name);
    const result = await this.session.run(ortFeeds, [...names]);
    const out = new Map<string, HostTensor>();
    for (const name of names) {
      const t = result[name];
      out.set(name, fromOrtTensor(t));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}
