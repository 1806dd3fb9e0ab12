/**
 * MSE calibration: the clipping range that minimizes the expected squared
 * quantization error over the observed distribution (the criterion of
 * pytorch-quantization's "mse" method and of Banner et al., "Post-training
 * 4-bit quantization of convolution networks for rapid-deployment", 2019).
 *
 * Candidates scale the observed range [lo, hi] (lo ≤ 0 ≤ hi) by α = k/K,
 * k = 1..K, keeping its asymmetry. For each, the scale and zero point follow
 * from the same affine rule the quantizer uses, which fixes the representable
 * interval [s·(qmin − zp), s·(qmax − zp)]. With values taken as uniform within
 * a histogram bin of width w centred at c, the expected error of the bin is
 *   inside the interval:  s²/12            (uniform rounding noise)
 *   outside:              (c − edge)² + w²/12   (clipping to the nearest edge)
 * and the candidate's error is the count-weighted sum.
 */
import { affineParams } from '../passes/quantize/params';
import type { StreamingHistogram } from './histogram';

export interface MseResult {
  min: number;
  max: number;
  /** Expected mean squared error at the chosen range. */
  mse: number;
}

export function mseRange(h: StreamingHistogram, qmin: number, qmax: number, candidates = 512): MseResult {
  const lo = Math.min(h.min, 0);
  const hi = Math.max(h.max, 0);
  const total = h.total;
  if (h.binWidth === 0 || total === 0) return { min: lo, max: hi, mse: 0 };
  const w = h.binWidth;
  const binNoise = (w * w) / 12;
  // The non-empty bins once, in bin order (counts and centres): the candidate
  // loop then runs over them alone, with the same terms in the same order as a
  // loop over every bin that skips the empty ones, so the sums are identical.
  let m = 0;
  for (let j = 0; j < h.bins; j++) if (h.counts[j] !== 0) m++;
  const count = new Float64Array(m);
  const centre = new Float64Array(m);
  for (let j = 0, k = 0; j < h.bins; j++) {
    if (h.counts[j] === 0) continue;
    count[k] = h.counts[j];
    centre[k++] = h.edge(j) + w / 2;
  }
  let best = { min: lo, max: hi, mse: Infinity };
  for (let k = 1; k <= candidates; k++) {
    const a = (lo * k) / candidates;
    const b = (hi * k) / candidates;
    const { scale, zeroPoint } = affineParams(a, b, qmin, qmax);
    const left = scale * (qmin - zeroPoint);
    const right = scale * (qmax - zeroPoint);
    const inside = (scale * scale) / 12;
    let err = 0;
    for (let j = 0; j < m; j++) {
      const n = count[j];
      const c = centre[j];
      if (c < left) err += n * ((c - left) ** 2 + binNoise);
      else if (c > right) err += n * ((c - right) ** 2 + binNoise);
      else err += n * inside;
    }
    const mse = err / total;
    if (mse < best.mse) best = { min: a, max: b, mse };
  }
  return best;
}
