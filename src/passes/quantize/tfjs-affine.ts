/**
 * tfjs stored weight quantization, computed exactly as tfjs-converter does
 * (tensorflowjs/quantization.py, quantize_weights and
 * _get_affine_quantization_range, after TF Lite's NudgeQuantizationRange):
 *   min, max of the tensor (float64);
 *   min == max → all q = 0, scale = 1, min kept (decodes to the constant);
 *   scale = (max - min) / qmax;
 *   if min ≤ 0 ≤ max: zp = round(-min / scale), min = -zp · scale (nudged so
 *     that 0 decodes exactly), max = qmax · scale + min;
 *   q = round((clip(w, min, max) - min) / scale) (numpy round: half to even).
 * tfjs-core's decodeWeights then yields float32(q · scale + min).
 * `levels - 1` is qmax: 255 (uint8), 65535 (uint16), or 15 for mc's 4-bit
 * levels kept in a uint8 container (tfjs has no narrower storage).
 */
import { float32ToFloat16Bytes, halfToFloat } from '../../ir';
import { InputError } from '../../errors';
import { roundHalfEven, sqnrDb } from './params';

export interface TfjsAffineResult {
  dtype: 'uint8' | 'uint16';
  min: number;
  scale: number;
  stored: Uint8Array;
  sqnrDb: number;
}

export function quantizeTfjsAffine(w: Float32Array, qmax: 15 | 255 | 65535, name: string): TfjsAffineResult {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v - v !== 0) throw new InputError(`weight '${name}' has a non-finite value (${v}) at element ${i}; refusing to quantize`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const wide = qmax === 65535;
  const dtype = wide ? 'uint16' : 'uint8';
  const q = wide ? new Uint16Array(w.length) : new Uint8Array(w.length);
  const stored = new Uint8Array(q.buffer);
  if (!(lo < hi)) {
    // A constant (or empty) tensor: every q = 0 decodes to the constant itself.
    return { dtype, min: w.length ? lo : 0, scale: 1, stored, sqnrDb: Infinity };
  }
  const scale = (hi - lo) / qmax;
  let min = lo;
  let max = hi;
  if (lo <= 0 && hi >= 0) {
    const zp = roundHalfEven(-lo / scale);
    min = -zp * scale;
    max = qmax * scale + min;
  }
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    const c = v < min ? min : v > max ? max : v;
    const k = roundHalfEven((c - min) / scale);
    q[i] = k;
    const e = v - Math.fround(k * scale + min);
    signal += v * v;
    noise += e * e;
  }
  return { dtype, min, scale, stored, sqnrDb: sqnrDb(signal, noise) };
}

/** float16 storage (round to nearest even) and its SQNR. */
export function quantizeTfjsFloat16(w: Float32Array, name: string): { stored: Uint8Array; sqnrDb: number } {
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v - v !== 0) throw new InputError(`weight '${name}' has a non-finite value (${v}) at element ${i}; refusing to quantize`);
  }
  const stored = float32ToFloat16Bytes(w);
  const h = new Uint16Array(stored.buffer, stored.byteOffset, w.length);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < w.length; i++) {
    const e = w[i] - halfToFloat(h[i]);
    signal += w[i] * w[i];
    noise += e * e;
  }
  return { stored, sqnrDb: sqnrDb(signal, noise) };
}
