/**
 * A streaming histogram of activation values with a fixed number of bins
 * (2,048 by default, the bin count of TensorRT's entropy calibrator and of
 * onnxruntime's HistogramCalibrater).
 *
 * Bins are aligned to a grid: bin j covers [(offset + j)·w, (offset + j + 1)·w)
 * (the last bin is closed on the right), with `offset` an integer and
 * w = w0·2^k. The window always contains 0 and the whole observed range. When
 * a batch falls outside it, w doubles (k grows) until the range fits again, and
 * the old counts are merged into the new bins. Because the new width is the
 * old one times a power of two, every old bin lies entirely inside one new bin,
 * so re-binning is exact: no counts are split or interpolated, and the result
 * is the histogram that the final width would have produced directly.
 *
 * Mode 'signed' bins x itself (percentile and MSE calibration, which need both
 * tails for asymmetric ranges); mode 'abs' bins |x| (entropy calibration, whose
 * TensorRT formulation works on magnitudes). Non-finite values are counted in
 * `skipped` and otherwise ignored.
 */
export type HistogramMode = 'signed' | 'abs';

export const DEFAULT_BINS = 2048;

export class StreamingHistogram {
  readonly mode: HistogramMode;
  readonly bins: number;
  /** Counts per bin; float64 holds integers exactly up to 2^53. */
  counts: Float64Array;
  /** Bin width; 0 until a non-zero value has been seen. */
  binWidth = 0;
  /** Index of the first bin on the grid of multiples of binWidth. */
  offset = 0;
  /** Smallest and largest observed value (of |x| in 'abs' mode). */
  min = Infinity;
  max = -Infinity;
  /** Non-finite values seen (NaN, ±Inf); not binned. */
  skipped = 0;
  /** Whether any negative value was seen ('abs' mode loses the sign otherwise). */
  sawNegative = false;
  /** Zeros seen before any non-zero value fixed the bin width. */
  private pendingZeros = 0;
  /** Per-batch integer counts (a batch has < 2^32 values). */
  private readonly scratch: Uint32Array;

  constructor(mode: HistogramMode = 'signed', bins = DEFAULT_BINS) {
    this.mode = mode;
    this.bins = bins;
    this.counts = new Float64Array(bins);
    this.scratch = new Uint32Array(bins);
  }

  /** Total binned values. */
  get total(): number {
    let t = this.pendingZeros;
    for (let i = 0; i < this.bins; i++) t += this.counts[i];
    return t;
  }

  /** Lower edge of bin j. */
  edge(j: number): number {
    return (this.offset + j) * this.binWidth;
  }

  update(data: Float32Array): void {
    if (data.length === 0) return;
    if (this.binWidth > 0 && (this.mode === 'abs' ? this.binAbsInWindow(data) : this.binSignedInWindow(data))) return;
    this.rangeThenBin(data);
  }

  /**
   * Fast path once the width is set: range and binning in ONE pass over the
   * data, committed only if the batch is finite and fits the current window
   * (the usual case after the first batches). Otherwise nothing is changed
   * and the caller takes the two-pass path, so the counts are exactly those
   * rangeThenBin would give. NaN is caught by the max test's else branch
   * (NaN < x and NaN <= x are both false); ±Inf leave the window.
   */
  private binSignedInWindow(data: Float32Array): boolean {
    const counts = this.scratch;
    counts.fill(0);
    const inv = 1 / this.binWidth;
    const off = this.offset;
    const last = this.bins - 1;
    // Early exits, conservative: the exact test is commitInWindow's.
    const lowest = this.edge(0) * (1 + 1e-9) - Number.MIN_VALUE;
    const highest = this.edge(this.bins) * (1 + 1e-9) + Number.MIN_VALUE;
    let bmin = data[0];
    let bmax = bmin;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < bmin) {
        bmin = v;
        if (v < lowest) return false;
      } else if (!(v <= bmax)) {
        if (v !== v || v > highest) return false;
        bmax = v;
      }
      let j = (v * inv - off) | 0;
      j = j > last ? last : j;
      counts[j < 0 ? 0 : j]++;
    }
    if (bmin !== bmin || !this.commitInWindow(bmin, bmax)) return false;
    if (bmin < 0) this.sawNegative = true;
    return true;
  }

  /** binSignedInWindow for |x|. */
  private binAbsInWindow(data: Float32Array): boolean {
    const counts = this.scratch;
    counts.fill(0);
    const inv = 1 / this.binWidth;
    const off = this.offset;
    const last = this.bins - 1;
    const highest = this.edge(this.bins) * (1 + 1e-9) + Number.MIN_VALUE; // early exit; exact test in commitInWindow
    let xmin = data[0];
    let bmin = xmin < 0 ? -xmin : xmin;
    let bmax = bmin;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (x < xmin) xmin = x;
      const v = x < 0 ? -x : x;
      if (v < bmin) bmin = v;
      else if (!(v <= bmax)) {
        if (v !== v || v > highest) return false;
        bmax = v;
      }
      let j = (v * inv - off) | 0;
      j = j > last ? last : j;
      counts[j < 0 ? 0 : j]++;
    }
    if (bmin !== bmin || !this.commitInWindow(bmin, bmax)) return false;
    if (xmin < 0) this.sawNegative = true;
    return true;
  }

  /** Folds the scratch counts in if [bmin, bmax] needs no wider window. */
  private commitInWindow(bmin: number, bmax: number): boolean {
    const min = Math.min(this.min, bmin);
    const max = Math.max(this.max, bmax);
    const lo = Math.min(min, 0);
    const hi = Math.max(max, 0);
    if (Math.floor(lo / this.binWidth) < this.offset || !this.fits(this.binWidth, this.offset, hi)) return false;
    this.min = min;
    this.max = max;
    const counts = this.scratch;
    for (let j = 0; j < this.bins; j++) this.counts[j] += counts[j];
    return true;
  }

  /** Two passes: the batch range first, so the window can grow before any value is binned. */
  private rangeThenBin(data: Float32Array): void {
    const abs = this.mode === 'abs';
    // Pass 1: batch range.
    let bmin = Infinity;
    let bmax = -Infinity;
    let bad = 0;
    let neg = false;
    for (let i = 0; i < data.length; i++) {
      let v = data[i];
      if (v - v !== 0) { bad++; continue; }
      if (abs && v < 0) { v = -v; neg = true; }
      if (v < bmin) bmin = v;
      if (v > bmax) bmax = v;
    }
    this.skipped += bad;
    if (neg || (!abs && bmin < 0)) this.sawNegative = true;
    if (bmin > bmax) return;
    if (bmin < this.min) this.min = bmin;
    if (bmax > this.max) this.max = bmax;
    const lo = Math.min(this.min, 0);
    const hi = Math.max(this.max, 0);
    if (hi === lo) { // only zeros so far
      this.pendingZeros += data.length - bad;
      return;
    }
    if (this.binWidth === 0) this.init(lo, hi);
    else if (Math.floor(lo / this.binWidth) < this.offset || !this.fits(this.binWidth, this.offset, hi)) this.grow(lo, hi);
    // Pass 2: binning. x·(1/w) − offset lies in [0, bins] inside the window, so
    // an int32 truncation is the floor; the loops are split so the hot one has
    // no NaN test and no sign branch (this pass dominates calibration time).
    // Integer counts per batch (cheaper increments), folded into the float64 totals after.
    const counts = this.scratch;
    counts.fill(0);
    const inv = 1 / this.binWidth;
    const off = this.offset;
    const last = this.bins - 1;
    const n = data.length;
    if (bad === 0 && !abs) {
      for (let i = 0; i < n; i++) {
        const j = (data[i] * inv - off) | 0;
        counts[j > last ? last : j]++;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (v - v !== 0) continue;
        let j = ((abs && v < 0 ? -v : v) * inv - off) | 0;
        if (j > last) j = last; // the top edge itself, or a rounding hair above it
        else if (j < 0) j = 0;
        counts[j]++;
      }
    }
    for (let j = 0; j <= last; j++) this.counts[j] += counts[j];
  }

  private fits(w: number, offset: number, hi: number): boolean {
    return hi / w <= offset + this.bins;
  }

  private init(lo: number, hi: number): void {
    // Smallest width that holds [lo, hi] whatever the grid alignment of lo.
    let w = (hi - lo) / this.bins;
    if (!this.fits(w, Math.floor(lo / w), hi)) w = (hi - lo) / (this.bins - 1);
    this.binWidth = w;
    this.offset = Math.floor(lo / w);
    this.addZeros();
  }

  private addZeros(): void {
    if (this.pendingZeros === 0) return;
    const j = Math.min(this.bins - 1, Math.max(0, -this.offset));
    this.counts[j] += this.pendingZeros;
    this.pendingZeros = 0;
  }

  /** Doubles the width until [lo, hi] fits, merging old bins exactly (see the file comment). */
  private grow(lo: number, hi: number): void {
    let factor = 1;
    let w = this.binWidth;
    let offset: number;
    do {
      factor *= 2;
      w *= 2;
      offset = Math.floor(lo / w);
    } while (!this.fits(w, offset, hi));
    const old = this.counts;
    const next = new Float64Array(this.bins);
    for (let j = 0; j < this.bins; j++) {
      if (old[j] === 0) continue;
      // floor(v / (w·2^k)) = floor(floor(v / w) / 2^k) for v in old bin j.
      let k = Math.floor((this.offset + j) / factor) - offset;
      if (k < 0) k = 0;
      else if (k >= this.bins) k = this.bins - 1;
      next[k] += old[j];
    }
    this.counts = next;
    this.binWidth = w;
    this.offset = offset;
  }

  /**
   * The value below which a fraction `q` of the binned values lie, by linear
   * interpolation inside the bin that holds the q-th value (values assumed
   * uniform within a bin). q = 0 gives the observed minimum, q = 1 the maximum.
   */
  quantile(q: number): number {
    if (this.binWidth === 0) return 0;
    if (q <= 0) return this.mode === 'abs' ? Math.max(0, this.min) : this.min;
    if (q >= 1) return this.max;
    const target = q * this.total;
    let cum = 0;
    for (let j = 0; j < this.bins; j++) {
      const c = this.counts[j];
      if (c > 0 && cum + c >= target) {
        const v = this.edge(j) + this.binWidth * ((target - cum) / c);
        return Math.min(this.max, Math.max(this.mode === 'abs' ? 0 : this.min, v));
      }
      cum += c;
    }
    return this.max;
  }
}
