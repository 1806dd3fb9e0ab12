import * as path from 'path';
import { InputError, UnsupportedError } from '../../errors';
import { Graph, Model, Tensor } from '../../ir';
import { modelFromProto } from './graph-decode';
import { modelToProto } from './graph-encode';
import { has, ModelProto, TensorProto } from './proto-types';
import { proto } from './schema';
import { decodeTensor, encodeTensor, TensorEncodeContext } from './tensor-codec';

/** Protobuf messages cannot exceed 2 GiB (a signed 32-bit length). */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface DecodeOptions {
  /** The file the bytes came from, for error messages and as the default external-data folder. */
  file?: string;
  /** Folder that external data locations are relative to. */
  baseDir?: string;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/** Decodes protobuf bytes into a plain message, turning protobufjs errors into one-line InputErrors. */
export function decodeMessage<T>(type: 'ModelProto' | 'TensorProto', bytes: Uint8Array, file: string | undefined): T {
  try {
    return proto[type].decode(bytes) as unknown as T;
  } catch (e) {
    throw new InputError(`not a valid ONNX ${type === 'ModelProto' ? 'model' : 'tensor'} (truncated or corrupt protobuf: ${firstLine(e)})`, file);
  }
}

export function decodeOnnx(bytes: Uint8Array, opts: DecodeOptions = {}): Model {
  const mp = decodeMessage<ModelProto>('ModelProto', bytes, opts.file);
  if (!has(mp, 'graph') && !has(mp, 'ir_version')) {
    throw new InputError('not an ONNX model (no graph and no ir_version)', opts.file);
  }
  const baseDir = opts.baseDir ?? (opts.file ? path.dirname(opts.file) : undefined);
  return modelFromProto(mp, { file: opts.file, baseDir });
}

/** Encodes a model; `ctx` may send tensors to external data. */
export function encodeModel(model: Model, ctx: TensorEncodeContext = {}): Uint8Array {
  const mp = modelToProto(model, ctx);
  return proto.ModelProto.encode(mp).finish();
}

/**
 * Every dense tensor a model stores, in nested graphs and functions too:
 * initializers, plus tensor attributes (Constant values) when `attributes`.
 */
export function* modelTensors(model: Model, attributes = true): Iterable<Tensor> {
  yield* graphTensors(model.graph, attributes);
  for (const f of model.functions) yield* graphTensors(f.body, attributes);
}

function* graphTensors(g: Graph, attributes: boolean): Iterable<Tensor> {
  for (const v of g.initializers) if (v.const) yield v.const;
  for (const n of g.nodes) {
    for (const a of n.attributes.values()) {
      if (a.type === 'tensor' && attributes) yield a.value;
      else if (a.type === 'tensors' && attributes) yield* a.value;
      else if (a.type === 'graph') yield* graphTensors(a.value, attributes);
      else if (a.type === 'graphs') for (const sg of a.value) yield* graphTensors(sg, attributes);
    }
  }
}

/** Upper bound on the bytes tensors add to the message when stored inline. */
export function inlineTensorBytes(model: Model, isExternal: (t: Tensor) => boolean = () => false): number {
  let total = 0;
  for (const t of modelTensors(model)) if (!isExternal(t)) total += t.byteLength;
  return total;
}

/** Encodes with every tensor inline. Throws when the result would break the protobuf size limit. */
export function encodeOnnx(model: Model, limit = PROTOBUF_LIMIT): Uint8Array {
  const size = inlineTensorBytes(model);
  if (size > limit) {
    throw new UnsupportedError(`model weights take ${size} bytes, over the ${limit}-byte protobuf limit; save it with external data`);
  }
  return encodeModel(model);
}

export function decodeTensorProto(bytes: Uint8Array, file?: string): Tensor {
  const tp = decodeMessage<TensorProto>('TensorProto', bytes, file);
  return decodeTensor(tp, { file, baseDir: file ? path.dirname(file) : undefined });
}

export function encodeTensorProto(t: Tensor): Uint8Array {
  return proto.TensorProto.encode(encodeTensor(t, undefined, {})).finish();
}
