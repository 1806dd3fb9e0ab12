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
 * `skipped` and otherwise ignored. A minimum or maximum of −0 is kept as 0.
 *
 * Cost: a batch that fits the window is binned and ranged in one pass of the
 * WebAssembly kernel (bin-kernel.ts); one that widens it takes a second pass.
 * The plain JS loop gives the same counts and is used for batches holding
 * NaN/±Inf, batches under 4 values, and where WebAssembly SIMD is missing.
 */
import { BinKernel, binKernel, MAX_BINS, PassResult } from './bin-kernel';

export type HistogramMode = 'signed' | 'abs';

export const DEFAULT_BINS = 2048;

/** Everything a StreamingHistogram holds, as plain data (a statistics file stores it; fromState rebuilds the same histogram). */
export interface HistogramState {
  mode: HistogramMode;
  bins: number;
  counts: number[];
  binWidth: number;
  offset: number;
  min: number;
  max: number;
  skipped: number;
  sawNegative: boolean;
  pendingZeros: number;
}

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

  /** Whether update() may use the WebAssembly kernel (tests turn it off to compare with the JS path). */
  static useKernel = true;

  constructor(mode: HistogramMode = 'signed', bins = DEFAULT_BINS) {
    this.mode = mode;
    this.bins = bins;
    this.counts = new Float64Array(bins);
    this.scratch = new Uint32Array(bins);
  }

  /** The histogram as plain data (counts copied). */
  state(): HistogramState {
    return {
      mode: this.mode, bins: this.bins, counts: Array.from(this.counts), binWidth: this.binWidth, offset: this.offset,
      min: this.min, max: this.max, skipped: this.skipped, sawNegative: this.sawNegative, pendingZeros: this.pendingZeros,
    };
  }

  /** The histogram `s` describes; updates go on from there exactly as on the histogram it was taken from. */
  static fromState(s: HistogramState): StreamingHistogram {
    if (s.counts.length !== s.bins) throw new RangeError(`histogram state: ${s.counts.length} counts for ${s.bins} bins`);
    const h = new StreamingHistogram(s.mode, s.bins);
    h.counts = Float64Array.from(s.counts);
    h.binWidth = s.binWidth;
    h.offset = s.offset;
    h.min = s.min;
    h.max = s.max;
    h.skipped = s.skipped;
    h.sawNegative = s.sawNegative;
    h.pendingZeros = s.pendingZeros;
    return h;
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
    const k = StreamingHistogram.useKernel && this.bins <= MAX_BINS ? binKernel() : undefined;
    if (k && data.length >= 4 && this.kernelUpdate(k, data)) return;
    this.rangeThenBin(data);
  }

  /**
   * The usual path (see bin-kernel.ts): once the width is set, ONE pass bins
   * the batch into the current window and takes its range; the counts are
   * committed if the batch fits (commitInWindow), as after the first batches
   * it almost always does. Otherwise the range just taken sets or grows the
   * window and a second pass bins the batch. Returns false, having changed
   * nothing, for a batch with NaN or ±Inf: rangeThenBin skips those values.
   */
  private kernelUpdate(k: BinKernel, data: Float32Array): boolean {
    const counts = this.scratch;
    let r: PassResult;
    if (this.binWidth > 0) {
      counts.fill(0);
      r = this.kernelBin(k, data);
      if (!isFinitePass(r)) return false;
      if (this.commitInWindow(r.min, r.max)) {
        this.noteSign(r);
        return true;
      }
    } else {
      r = withTail(k.range(data, this.mode === 'abs'), data, this.mode === 'abs', undefined);
      if (!isFinitePass(r)) return false;
    }
    this.noteSign(r);
    if (!this.foldRange(r.min, r.max, data.length)) return true;
    counts.fill(0);
    this.kernelBin(k, data);
    this.addScratch();
    return true;
  }

  /** Kernel pass over the data, its last n % 4 values binned here by the same formula. */
  private kernelBin(k: BinKernel, data: Float32Array): PassResult {
    const abs = this.mode === 'abs';
    const inv = 1 / this.binWidth;
    const r = k.bin(data, abs, inv, this.offset, this.bins, this.scratch);
    return withTail(r, data, abs, { inv, off: this.offset, last: this.bins - 1, counts: this.scratch });
  }

  private noteSign(r: PassResult): void {
    if ((this.mode === 'abs' ? r.rawMin : r.min) < 0) this.sawNegative = true;
  }

  /** Folds the scratch counts in if [bmin, bmax] needs no wider window. */
  private commitInWindow(bmin: number, bmax: number): boolean {
    const min = Math.min(this.min, bmin + 0); // + 0: −0 becomes 0, whichever zero the lanes met first
    const max = Math.max(this.max, bmax + 0);
    const lo = Math.min(min, 0);
    const hi = Math.max(max, 0);
    if (Math.floor(lo / this.binWidth) < this.offset || !this.fits(this.binWidth, this.offset, hi)) return false;
    this.min = min;
    this.max = max;
    this.addScratch();
    return true;
  }

  private addScratch(): void {
    const counts = this.scratch;
    for (let j = 0; j < this.bins; j++) this.counts[j] += counts[j];
  }

  /**
   * Takes a batch's range of finite values in: updates min/max, then sets or
   * grows the window to hold it. False when every value so far is zero (the
   * batch's `count` zeros wait in pendingZeros for a width).
   */
  private foldRange(bmin: number, bmax: number, count: number): boolean {
    if (bmin < this.min) this.min = bmin + 0;
    if (bmax > this.max) this.max = bmax + 0;
    const lo = Math.min(this.min, 0);
    const hi = Math.max(this.max, 0);
    if (hi === lo) {
      this.pendingZeros += count;
      return false;
    }
    if (this.binWidth === 0) this.init(lo, hi);
    else if (Math.floor(lo / this.binWidth) < this.offset || !this.fits(this.binWidth, this.offset, hi)) this.grow(lo, hi);
    return true;
  }

  /**
   * The plain JS path, two passes (the batch range first, so the window can
   * grow before any value is binned): used for batches with NaN or ±Inf
   * (skipped and counted in `skipped`), batches of under 4 values, and where
   * WebAssembly SIMD is missing.
   */
  private rangeThenBin(data: Float32Array): void {
    const abs = this.mode === 'abs';
    let bmin = Infinity;
    let bmax = -Infinity;
    let bad = 0;
    let neg = false;
    for (let i = 0; i < data.length; i++) {
      let v = data[i];
      if (v - v !== 0) { bad++; continue; }
      if (v < 0) { neg = true; if (abs) v = -v; }
      if (v < bmin) bmin = v;
      if (v > bmax) bmax = v;
    }
    this.skipped += bad;
    if (neg) this.sawNegative = true;
    if (bmin > bmax || !this.foldRange(bmin, bmax, data.length - bad)) return;
    // x·(1/w) − offset lies in [0, bins] inside the window (a rounding hair
    // outside at most): clamped, then floored, as the kernel does.
    const counts = this.scratch;
    counts.fill(0);
    const inv = 1 / this.binWidth;
    const off = this.offset;
    const last = this.bins - 1;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v - v !== 0) continue;
      counts[binIndex(abs && v < 0 ? -v : v, inv, off, last)]++;
    }
    this.addScratch();
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

/** The bin of a finite value v in the window: floor(clamp(v·inv − off, 0, last)), the kernel's formula (bin-kernel.ts). */
function binIndex(v: number, inv: number, off: number, last: number): number {
  const y = v * inv - off;
  return Math.floor(y > 0 ? (y < last ? y : last) : 0);
}

function isFinitePass(r: PassResult): boolean {
  return !r.nan && r.min - r.min === 0 && r.max - r.max === 0;
}

/**
 * Completes a kernel pass with the data's last n % 4 values (all of them when
 * the kernel saw none), by the kernel's rules: `<` / `>` comparisons, NaN
 * flagged, and, when `bin` is given, index floor(clamp(x·inv − off, 0, last)).
 */
function withTail(r: PassResult | undefined, data: Float32Array, abs: boolean, bin: { inv: number; off: number; last: number; counts: Uint32Array } | undefined): PassResult {
  const out: PassResult = r ?? { min: Infinity, max: -Infinity, rawMin: Infinity, nan: false };
  for (let i = data.length & ~3; i < data.length; i++) {
    const x = data[i];
    if (x !== x) { out.nan = true; continue; }
    if (x < out.rawMin) out.rawMin = x;
    const v = abs && x < 0 ? -x : x;
    if (v < out.min) out.min = v;
    if (v > out.max) out.max = v;
    if (bin) bin.counts[binIndex(v, bin.inv, bin.off, bin.last)]++;
  }
  return out;
}
