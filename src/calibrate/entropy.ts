/**
 * Entropy (KL-divergence) calibration: S. Migacz, "8-bit Inference with
 * TensorRT", GTC 2017, slides 29–35, as NVIDIA's pytorch-quantization
 * implements it (calib/histogram.py, _compute_amax_entropy):
 *
 *   for i in [startBin, nbins]:
 *     P = hist[0 .. i-1], with every count beyond the threshold (the
 *         outliers hist[i ..]) added to P[i-1]; normalized
 *     Q = hist[0 .. i-1] merged into `levels` quantization bins, each level's
 *         mass spread evenly back over its bins that are non-zero in hist
 *         (empty bins stay empty); normalized
 *     divergence[i] = KL(P || Q) = Σ P·ln(P/Q)   (∞ if Q = 0 where P > 0)
 *   threshold = upper edge of bin (argmin_i divergence − 1), the last i on ties
 *
 * Bin j of the first i bins belongs to level ⌊j·levels / i⌋ (numpy
 * digitize over linspace(0, i, levels + 1), exact here since levels is a power
 * of two). Two details follow pytorch-quantization: hist[0] is replaced by
 * hist[1] first, because after ReLU the zero bin holds a spike that would
 * otherwise dominate the divergence; and `levels` is 128 for signed tensors
 * (7 magnitude bits of int8) and 256 for non-negative ones (all 8 bits).
 * The histogram is one of |x| starting at 0 (StreamingHistogram 'abs').
 */
export interface EntropyResult {
  /** Number of bins kept below the threshold. */
  bins: number;
  /** KL divergence at that candidate. */
  divergence: number;
}

/** The candidate bin count with the smallest KL divergence; counts are a histogram of |x| from 0. */
export function entropyThresholdBins(hist: Float64Array, levels: number, startBin = 128): EntropyResult {
  const n = hist.length;
  const bins = Float64Array.from(hist);
  if (n > 1) bins[0] = bins[1];
  let best = -1;
  let bestDiv = Infinity;
  const levelSum = new Float64Array(levels);
  const levelNonZero = new Int32Array(levels);
  const start = Math.min(startBin, n);
  // Suffix sums give the outlier mass for every i in O(1).
  const suffix = new Float64Array(n + 1);
  for (let j = n - 1; j >= 0; j--) suffix[j] = suffix[j + 1] + bins[j];
  for (let i = start; i <= n; i++) {
    levelSum.fill(0);
    levelNonZero.fill(0);
    for (let j = 0; j < i; j++) {
      const c = bins[j];
      if (c === 0) continue;
      const l = Math.floor((j * levels) / i);
      levelSum[l] += c;
      levelNonZero[l]++;
    }
    const outliers = suffix[i];
    // P's mass is the whole histogram; Q's is the mass of the first i bins.
    const pTotal = suffix[0];
    const qTotal = pTotal - outliers;
    if (pTotal === 0) break;
    let div = 0;
    for (let j = 0; j < i; j++) {
      let p = bins[j];
      if (j === i - 1) p += outliers;
      if (p === 0) continue;
      const l = Math.floor((j * levels) / i);
      const q = bins[j] === 0 ? 0 : levelSum[l] / levelNonZero[l];
      if (q === 0 || qTotal === 0) { div = Infinity; break; }
      const pn = p / pTotal;
      div += pn * Math.log(pn / (q / qTotal));
    }
    if (div <= bestDiv) { // '<=': the last minimum wins, as pytorch-quantization's reversed argmin
      bestDiv = div;
      best = i;
    }
  }
  if (best < 0) best = n;
  return { bins: best, divergence: bestDiv };
}
