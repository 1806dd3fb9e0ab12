import * as ort from 'onnxruntime-node';
import { decodeUtf8, Tensor } from '../../src/ir';

type OrtType = ort.Tensor.Type;

const ORT_TYPES: Partial<Record<Tensor['dtype'], OrtType>> = {
  float32: 'float32', uint8: 'uint8', int8: 'int8', uint16: 'uint16', int16: 'int16', int32: 'int32',
  int64: 'int64', string: 'string', bool: 'bool', float16: 'float16', float64: 'float64', uint32: 'uint32', uint64: 'uint64',
};

/** An aligned copy of the IR tensor as an onnxruntime tensor; throws for dtypes ORT's JS API cannot carry. */
export function toOrtTensor(t: Tensor): ort.Tensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new Error(`input dtype ${t.dtype} not supported by onnxruntime-node tensors`);
  if (type === 'string') return new ort.Tensor('string', t.strings().map(decodeUtf8), t.shape);
  const b = new Uint8Array(t.bytes()); // a copy: Buffer.slice would be a view of the whole file
  const buf = b.buffer;
  switch (type) {
    case 'float32': return new ort.Tensor(type, new Float32Array(buf), t.shape);
    case 'float64': return new ort.Tensor(type, new Float64Array(buf), t.shape);
    case 'int8': return new ort.Tensor(type, new Int8Array(buf), t.shape);
    case 'uint8': case 'bool': return new ort.Tensor(type, b, t.shape);
    case 'int16': return new ort.Tensor(type, new Int16Array(buf), t.shape);
    case 'uint16': case 'float16': return new ort.Tensor(type, new Uint16Array(buf), t.shape);
    case 'int32': return new ort.Tensor(type, new Int32Array(buf), t.shape);
    case 'uint32': return new ort.Tensor(type, new Uint32Array(buf), t.shape);
    case 'int64': return new ort.Tensor(type, new BigInt64Array(buf), t.shape);
    case 'uint64': return new ort.Tensor(type, new BigUint64Array(buf), t.shape);
    default: throw new Error(`unhandled ORT type ${type}`);
  }
}

/** Raw bytes of an output tensor, or its strings joined, so outputs compare bitwise. */
function fingerprint(t: ort.Tensor): Buffer {
  const d = t.data;
  if (Array.isArray(d)) return Buffer.from(JSON.stringify(d));
  const v = d as ArrayBufferView;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Undefined when both runs produced bitwise-identical outputs; else what differs. */
export function outputsDiffer(a: ort.InferenceSession.OnnxValueMapType, b: ort.InferenceSession.OnnxValueMapType): string | undefined {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.join('\0') !== kb.join('\0')) return `output names ${ka.join(',')} vs ${kb.join(',')}`;
  for (const k of ka) {
    const x = a[k] as ort.Tensor;
    const y = b[k] as ort.Tensor;
    if (x.type !== y.type || x.dims.join(',') !== y.dims.join(',')) return `output ${k}: ${x.type}[${x.dims}] vs ${y.type}[${y.dims}]`;
    if (!fingerprint(x).equals(fingerprint(y))) return `output ${k}: values differ`;
  }
  return undefined;
}

export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  logSeverityLevel: 3,
};

/** Runs a model once on the given inputs and releases the session. */
export async function runOnce(model: Uint8Array | string, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const s = typeof model === 'string'
    ? await ort.InferenceSession.create(model, SESSION_OPTIONS)
    : await ort.InferenceSession.create(model, SESSION_OPTIONS);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
