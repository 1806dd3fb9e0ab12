/**
 * Scale / zero-point math and rounding, shared by every quantized form.
 *
 * Conventions (those of onnxruntime's quantization tools, quant_utils.py
 * compute_scale_zp, and of the ONNX QuantizeLinear spec):
 *  - symmetric: zero point 0, scale = max|w| / qmax, q ∈ [-qmax, qmax]
 *    (int8: ±127, int4: ±7; the extra negative level is left unused so the
 *    grid is symmetric);
 *  - asymmetric: the range is widened to include 0 (rmin ≤ 0 ≤ rmax),
 *    scale = (rmax - rmin) / (qmax - qmin), zero point = round(qmin - rmin/scale)
 *    clamped to [qmin, qmax], so real 0 is exactly representable;
 *  - q = clamp(round_half_even(w / scale) + zp), where w / scale is evaluated in
 *    float32 (ORT's MlasQuantizeLinear and numpy both divide float32 by
 *    float32 and round with nearbyint, i.e. half to even);
 *  - dequantized value = float32((q - zp) * scale) (ONNX DequantizeLinear).
 * Degenerate groups (all zeros, or a range so small the float32 scale would
 * underflow) get scale 1 (or the smallest normal float32), never 0/NaN/Inf.
 */

/** Integer storage of quantized weights. */
export type QuantDType = 'int8' | 'uint8' | 'int4' | 'uint4';

export interface IntRange {
  dtype: QuantDType;
  qmin: number;
  qmax: number;
}

/** Symmetric → signed storage with a symmetric grid; asymmetric → unsigned storage with a zero point. */
export function intRange(bits: 8 | 4, symmetric: boolean): IntRange {
  if (bits === 8) return symmetric ? { dtype: 'int8', qmin: -127, qmax: 127 } : { dtype: 'uint8', qmin: 0, qmax: 255 };
  return symmetric ? { dtype: 'int4', qmin: -7, qmax: 7 } : { dtype: 'uint4', qmin: 0, qmax: 15 };
}

/**
 * 7-bit symmetric weights in int8 storage (onnxruntime's quantizer `reduce_range`: [-64, 64]).
 * DynamicQuantizeLinear's activations are uint8 codes over 0..255, and AVX2's u8×s8 GEMM
 * (vpmaddubsw, MLAS QgemmU8S8KernelAvx2.S) adds two products in saturating int16:
 * 2 · 255 · 64 = 32,640 ≤ 32,767, so with these weights no pair can saturate.
 */
export function reducedInt8Range(): IntRange {
  return { dtype: 'int8', qmin: -64, qmax: 64 };
}

/** Smallest normal float32: below it a scale loses precision (and 1/scale overflows). */
export const FLT_MIN_NORMAL = 1.1754943508222875e-38;

/** Round half to even (IEEE 754 roundTiesToEven, numpy.rint, C nearbyint in the default mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // rounds halves toward +∞
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** A float32 scale that is finite and non-zero for any finite range. */
export function safeScale(raw: number): number {
  const s = Math.fround(raw);
  if (!(s > 0)) return 1; // zero range (all-zero group)
  if (s < FLT_MIN_NORMAL) return FLT_MIN_NORMAL;
  // Only a range near ±FLT_MAX overflows float32; clamp it rather than return Inf.
  return Number.isFinite(s) ? s : 3.4028234663852886e38;
}

/** Symmetric scale from the largest magnitude of a group. */
export function symmetricScale(absMax: number, qmax: number): number {
  return safeScale(absMax / qmax);
}

/** Asymmetric scale and zero point from a group's min and max (range widened to include 0). */
export function affineParams(min: number, max: number, qmin: number, qmax: number): { scale: number; zeroPoint: number } {
  const rmin = Math.min(min, 0);
  const rmax = Math.max(max, 0);
  const scale = safeScale((rmax - rmin) / (qmax - qmin));
  const zp = roundHalfEven(qmin - rmin / scale);
  return { scale, zeroPoint: Math.min(qmax, Math.max(qmin, zp)) };
}

/** Signal-to-quantization-noise ratio in dB; Infinity when the error is exactly zero. */
export function sqnrDb(signalEnergy: number, noiseEnergy: number): number {
  if (noiseEnergy === 0) return Infinity;
  if (signalEnergy === 0) return -Infinity;
  return 10 * Math.log10(signalEnergy / noiseEnergy);
}
