/** Builders and runners for the float16 tests. */
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx';
import { floatToHalf, halfToFloat, Model, Node } from '../../src/ir';

export type Feed = { data: Float32Array; dims: number[] } | { bool: boolean };

/** Runs `model` once; float inputs are sent as float16 where the model's input is float16. Outputs come back as float32. */
export async function run(model: Model | Uint8Array, feeds: Record<string, Feed>, inputTypes: Record<string, string> = {}): Promise<Record<string, Float32Array>> {
  const bytes = model instanceof Uint8Array ? model : encodeOnnx(model);
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) {
      if ('bool' in v) f[k] = new ort.Tensor('bool', Uint8Array.from([v.bool ? 1 : 0]), []);
      else if (inputTypes[k] === 'float16') f[k] = new ort.Tensor('float16', Uint16Array.from(v.data, floatToHalf), v.dims);
      else f[k] = new ort.Tensor('float32', v.data, v.dims);
    }
    const out = await s.run(f);
    const res: Record<string, Float32Array> = {};
    for (const n of s.outputNames) {
      const t = out[n];
      res[n] = t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, halfToFloat) : Float32Array.from(t.data as Float32Array);
    }
    return res;
  } finally {
    await s.release();
  }
}

/** Output SQNR in dB of `got` against the reference `ref`. */
export function sqnrDb(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i] * ref[i];
    e += (ref[i] - got[i]) ** 2;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

/** Casts in `nodes` that read `input` and cast to ONNX type code `to`. */
export function castsOf(nodes: Iterable<Node>, inputName: string, to: number): Node[] {
  return [...nodes].filter((n) => n.opType === 'Cast' && n.inputs[0]?.name === inputName && n.attrInt('to') === to);
}

/** Row-major [m, k] · [k, n] in float64. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * n + j];
    out[i * n + j] = s;
  }
  return out;
}
