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

/**
 * How far the fast pass below may be from the literal loop. Counts and their
 * prefix sums are exact (integers below 2^53). The prefix sums of b·ln b carry
 * an absolute error below bins·ε·37·P (ε = 2^−53; 37 > ln 2^53 ≥ ln b; P the
 * total count), the per-level terms (magnitude ≤ 74·S, summing to ≤ 74·P) add
 * less than 16·levels·ε·74·P, and the result is divided by P: about 1e-10
 * nats at most, for 16,384 bins and 256 levels.
 * The literal loop's own rounding is below 2·bins·ε·37 (at most `bins` terms
 * whose weights p/P sum to 1, |ln| ≤ 37): below 1.4e-10. So the two differ by
 * less than TOLERANCE, and a candidate whose fast divergence is more than
 * 2·TOLERANCE above the smallest fast divergence is strictly above the
 * literal minimum, while every literal minimizer is within 2·TOLERANCE.
 */
const TOLERANCE = 1e-9;

/**
 * The candidate bin count with the smallest KL divergence; counts are a histogram of |x| from 0.
 *
 * Evaluating the loop above literally for every candidate costs O(bins²) logs
 * (about 40 ms for 2,048 bins). Instead, a fast pass prices every candidate in
 * O(levels) from prefix sums (below), and only the candidates within the fast
 * pass's error bound of its minimum are evaluated by the literal loop: the
 * result, threshold and divergence, is the literal loop's, bit for bit.
 */
export function entropyThresholdBins(hist: Float64Array, levels: number, startBin = 128): EntropyResult {
  const n = hist.length;
  const bins = Float64Array.from(hist);
  if (n > 1) bins[0] = bins[1];
  const start = Math.min(startBin, n);
  const suffix = new Float64Array(n + 1);
  for (let j = n - 1; j >= 0; j--) suffix[j] = suffix[j + 1] + bins[j];
  // P = 0: the literal loop stops at once and keeps every bin.
  if (suffix[0] === 0) return { bins: n, divergence: Infinity };
  const fast = fastDivergences(bins, suffix, levels, start);
  let minFast = Infinity;
  for (const d of fast) if (d < minFast) minFast = d;
  // Every candidate infinite: the literal loop's '<=' keeps the last one.
  if (minFast === Infinity) return { bins: n, divergence: Infinity };
  const exact = new ExactDivergence(bins, suffix, levels);
  let best = -1;
  let bestDiv = Infinity;
  for (let i = start; i <= n; i++) {
    if (!(fast[i - start] <= minFast + 2 * TOLERANCE)) continue;
    const div = exact.at(i);
    if (div <= bestDiv) { // '<=': the last minimum wins, as pytorch-quantization's reversed argmin
      bestDiv = div;
      best = i;
    }
  }
  return { bins: best, divergence: bestDiv };
}

/** The literal loop of the file comment, for one candidate i. */
class ExactDivergence {
  private readonly levelSum: Float64Array;
  private readonly levelNonZero: Int32Array;

  constructor(private readonly bins: Float64Array, private readonly suffix: Float64Array, private readonly levels: number) {
    this.levelSum = new Float64Array(levels);
    this.levelNonZero = new Int32Array(levels);
  }

  at(i: number): number {
    const { bins, levels, levelSum, levelNonZero } = this;
    levelSum.fill(0);
    levelNonZero.fill(0);
    for (let j = 0; j < i; j++) {
      const c = bins[j];
      if (c === 0) continue;
      const l = Math.floor((j * levels) / i);
      levelSum[l] += c;
      levelNonZero[l]++;
    }
    const outliers = this.suffix[i];
    // P's mass is the whole histogram; Q's is the mass of the first i bins.
    const pTotal = this.suffix[0];
    const qTotal = pTotal - outliers;
    let div = 0;
    for (let j = 0; j < i; j++) {
      let p = bins[j];
      if (j === i - 1) p += outliers;
      if (p === 0) continue;
      const l = Math.floor((j * levels) / i);
      const q = bins[j] === 0 ? 0 : levelSum[l] / levelNonZero[l];
      if (q === 0 || qTotal === 0) return Infinity;
      const pn = p / pTotal;
      div += pn * Math.log(pn / (q / qTotal));
    }
    return div;
  }
}

/**
 * KL(P || Q) of every candidate i in [start, n], regrouped by level. Level l
 * holds bins [⌈l·i/L⌉, ⌈(l+1)·i/L⌉) (exactly the bins j with ⌊j·L/i⌋ = l:
 * both quotients are of integers below 2^53, so the rounded division never
 * crosses an integer). With S the level's count, K its non-zero bins and
 * q = S/K, each non-zero bin j contributes (b_j/P)·ln((b_j/P)/(q/Qt)), so the
 * level contributes [Σ b ln b − S·(ln P − ln Qt + ln q)] / P, with Σ b ln b
 * and S from prefix sums (S and K exactly: counts are integers). The last bin,
 * which also carries the outliers, is priced on its own. Infinite exactly
 * where the literal loop is: a last bin that is empty but carries outliers.
 */
function fastDivergences(bins: Float64Array, suffix: Float64Array, levels: number, start: number): Float64Array {
  const n = bins.length;
  const count = new Float64Array(n + 1);
  const nonZero = new Float64Array(n + 1);
  const bLnB = new Float64Array(n + 1);
  for (let j = 0; j < n; j++) {
    const c = bins[j];
    count[j + 1] = count[j] + c;
    nonZero[j + 1] = nonZero[j] + (c > 0 ? 1 : 0);
    bLnB[j + 1] = bLnB[j] + (c > 0 ? c * Math.log(c) : 0);
  }
  const pTotal = suffix[0];
  const lnP = Math.log(pTotal);
  const out = new Float64Array(Math.max(0, n + 1 - start));
  for (let i = start; i <= n; i++) {
    const outliers = suffix[i];
    const qTotal = pTotal - outliers;
    const last = i - 1;
    const bLast = last >= 0 ? bins[last] : 0;
    if (qTotal === 0 || (bLast === 0 && outliers > 0) || i === 0) {
      out[i - start] = i === 0 ? 0 : Infinity;
      continue;
    }
    const shift = lnP - Math.log(qTotal);
    let acc = 0;
    let a = 0;
    let lastQ = 0;
    for (let l = 0; l < levels && a < i; l++) {
      const b = Math.min(i, Math.ceil(((l + 1) * i) / levels));
      if (b <= a) continue;
      const k = nonZero[b] - nonZero[a];
      if (k > 0) {
        let sum = count[b] - count[a];
        let t = bLnB[b] - bLnB[a];
        const lnQ = Math.log(sum / k);
        if (b === i) {
          lastQ = sum / k;
          if (bLast > 0) { sum -= bLast; t -= bLast * Math.log(bLast); }
        }
        acc += t - sum * (shift + lnQ);
      }
      a = b;
    }
    let div = acc / pTotal;
    const pLast = bLast + outliers;
    if (pLast > 0) {
      const pn = pLast / pTotal;
      div += pn * Math.log(pn / (lastQ / qTotal));
    }
    out[i - start] = div;
  }
  return out;
}
