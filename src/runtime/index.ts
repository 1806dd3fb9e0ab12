import { detectFormat } from '../formats';
import { encodeOnnx, PROTOBUF_LIMIT } from '../formats/onnx';
import { inlineTensorBytes } from '../formats/onnx/codec';
import { encodeTfjs, type TfjsArtifacts } from '../formats/tfjs';
import { UnsupportedError } from '../errors';
import type { Model } from '../ir';
import { OrtRunner } from './ort-session';
import { TfjsRunner } from './tfjs-runner';
import type { ModelRunner } from './runner';

export * from './runner';
export { OrtRunner, OrtSessionOptions } from './ort-session';
export { TfjsRunner } from './tfjs-runner';
export { cpuLine, detectCpu, INT8_FLAGS, parseCpuinfo } from './cpu';
export type { CpuInfo, Int8Path } from './cpu';

export interface OpenRunnerOptions {
  /** onnxruntime intra-op threads (tfjs ignores it). */
  threads?: number;
  /** Names an in-memory model in error messages. */
  label?: string;
}

/**
 * A model to run or evaluate: a path (a .onnx file, a tfjs folder or model.json)
 * or a Model in memory, which is encoded to the bytes mc would write and
 * handed to the runtime without touching disk.
 */
export type ModelSource = string | Model;

/** Which stock runtime runs a model: ONNX goes to onnxruntime, tfjs folders / model.json / tfjs Models to tfjs. */
export function runtimeFor(source: ModelSource): 'onnxruntime' | 'tfjs' {
  const tfjs = typeof source === 'string' ? detectFormat(source) === 'tfjs' : source.format !== 'onnx';
  return tfjs ? 'tfjs' : 'onnxruntime';
}

/**
 * Opens a model with the stock runtime that fits its format. An in-memory
 * ONNX model is encoded with every tensor inline (lazy external data is read
 * into the message); past the 2 GiB protobuf limit that is refused with an
 * UnsupportedError saying to save it with external data and pass the path.
 */
export async function openRunner(source: ModelSource | EncodedModel, opts: OpenRunnerOptions = {}): Promise<ModelRunner> {
  if (typeof source === 'string') {
    return runtimeFor(source) === 'tfjs' ? TfjsRunner.create(source) : OrtRunner.create(source, { threads: opts.threads });
  }
  const label = opts.label ?? ('kind' in source ? 'in-memory model' : `in-memory ${source.format} model`);
  const enc = 'kind' in source ? source : encodeModel(source, label);
  if (enc.kind === 'tfjs') return TfjsRunner.fromArtifacts(enc.artifacts, label);
  return OrtRunner.create(enc.bytes, { threads: opts.threads, label });
}

/** A model encoded the way the runtime takes it in memory, so one encoding serves the runner and the size report. */
export type EncodedModel = { kind: 'onnx'; bytes: Uint8Array } | { kind: 'tfjs'; artifacts: TfjsArtifacts };

export function encodeModel(model: Model, label?: string): EncodedModel {
  return model.format === 'onnx' ? { kind: 'onnx', bytes: encodeInline(model, label) } : { kind: 'tfjs', artifacts: encodeTfjs(model) };
}

/** The model as one ONNX message with every tensor inline, or a clear error past the protobuf limit. */
export function encodeInline(model: Model, label = 'in-memory model'): Uint8Array {
  const size = inlineTensorBytes(model);
  if (size > PROTOBUF_LIMIT) {
    throw new UnsupportedError(`${label}: its weights take ${size} bytes, over the 2 GiB protobuf limit of one in-memory ONNX message; save it with external data and pass the file`);
  }
  return encodeOnnx(model);
}
