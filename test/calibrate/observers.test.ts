/**
 * Observers against references computed here: exact histogram counts,
 * percentiles by sorting, the KL threshold by a literal port of the
 * TensorRT / pytorch-quantization loop, MSE by quantizing the raw samples.
 */
import { entropyThresholdBins, HistogramObserver, MinMaxObserver, mseRange, StreamingHistogram } from '../../src/calibrate';
import { affineParams, roundHalfEven } from '../../src/passes/quantize/params';
import { laplace, normal, uniform } from './helpers';

const OBS = { percentile: 99.99, qmin: -128, qmax: 127, bins: 2048 };

describe('StreamingHistogram', () => {
  test('re-binning while the range grows equals binning everything at the final width', () => {
    const batches = [uniform(5000, 1, -0.5, 0.3), normal(20000, 2, 2), uniform(3000, 3, -9, 1), laplace(10000, 4, 3)];
    const h = new StreamingHistogram('signed');
    for (const b of batches) h.update(b);
    const ref = new Float64Array(2048);
    let n = 0;
    for (const b of batches) for (const v of b) {
      const j = Math.min(2047, Math.max(0, Math.floor(v * (1 / h.binWidth)) - h.offset));
      ref[j]++;
      n++;
    }
    expect(Array.from(h.counts)).toEqual(Array.from(ref));
    expect(h.total).toBe(n);
    // The window holds the data, and the width doubled a few times from the first batch's.
    expect(h.edge(0)).toBeLessThanOrEqual(h.min);
    expect(h.edge(2048)).toBeGreaterThanOrEqual(h.max * (1 - 1e-12));
    expect(Math.log2(h.binWidth / (0.8 / 2048))).toBeGreaterThan(3);
  });

  test('abs mode bins |x| from 0, zeros before the first non-zero value are kept, NaN/Inf skipped', () => {
    const h = new StreamingHistogram('abs', 16);
    h.update(new Float32Array([0, 0, 0]));
    h.update(new Float32Array([-4, 2, NaN, Infinity, 1]));
    expect(h.binWidth).toBe(0.25);
    expect(h.offset).toBe(0);
    expect(h.total).toBe(6);
    expect(h.skipped).toBe(2);
    expect(h.counts[0]).toBe(3);
    expect(h.counts[15]).toBe(1); // |−4| lands on the closed top edge
    expect(h.counts[8]).toBe(1);
    expect(h.counts[4]).toBe(1);
    expect(h.sawNegative).toBe(true);
  });
});

describe('percentile', () => {
  test('matches percentiles of a large seeded normal sample computed by sorting', () => {
    const x = normal(1_000_000, 7);
    const o = new HistogramObserver({ ...OBS, method: 'percentile', percentile: 99.9 });
    for (let i = 0; i < x.length; i += 65536) o.update(x.subarray(i, i + 65536)); // streamed in batches
    const r = o.range();
    const sorted = Float64Array.from(x).sort();
    const at = (q: number): number => sorted[Math.round(q * (sorted.length - 1))];
    const w = o.histogram.binWidth;
    expect(Math.abs(r.max - at(0.9995))).toBeLessThan(w);
    expect(Math.abs(r.min - at(0.0005))).toBeLessThan(w);
    expect(r.max).toBeCloseTo(3.29, 1); // z of the 99.95th percentile
  });
});

/**
 * Literal port of pytorch-quantization's _compute_amax_entropy (TensorRT's
 * KL calibration): np.linspace / np.digitize, scipy.stats.entropy semantics.
 */
function referenceEntropyBins(hist: Float64Array, nbins: number, startBin = 128): number {
  const bins = Array.from(hist);
  bins[0] = bins[1];
  const totalData = bins.reduce((a, b) => a + b, 0);
  const divergences: number[] = [];
  const args: number[] = [];
  for (let i = startBin; i <= bins.length; i++) {
    const space: number[] = [];
    for (let k = 0; k <= nbins; k++) space.push(k === nbins ? i : k * (i / nbins));
    const digitized = bins.slice(0, i).map((c, j) => {
      if (c === 0) return -1;
      let d = 0;
      while (d + 1 < space.length && space[d + 1] <= j) d++; // digitize(j, space) - 1
      return d;
    });
    const newCounts = new Array<number>(nbins).fill(0);
    const members = new Array<number>(nbins).fill(0);
    digitized.forEach((d, j) => { if (d >= 0) { newCounts[d] += bins[j]; members[d]++; } });
    const q = digitized.map((d) => (d >= 0 ? newCounts[d] / members[d] : 0));
    const p = bins.slice(0, i);
    p[i - 1] += bins.slice(i).reduce((a, b) => a + b, 0);
    expect(Math.round(p.reduce((a, b) => a + b, 0))).toBe(Math.round(totalData));
    const ps = p.reduce((a, b) => a + b, 0);
    const qs = q.reduce((a, b) => a + b, 0);
    let kl = 0;
    for (let j = 0; j < i; j++) {
      if (p[j] === 0) continue;
      if (q[j] === 0) { kl = Infinity; break; }
      kl += (p[j] / ps) * Math.log((p[j] / ps) / (q[j] / qs));
    }
    divergences.push(kl);
    args.push(i);
  }
  let best = divergences.length - 1;
  for (let k = divergences.length - 1; k >= 0; k--) if (divergences[k] < divergences[best]) best = k;
  return args[best];
}

describe('entropy (KL, TensorRT)', () => {
  test('threshold equals a brute-force port of the reference algorithm, signed and unsigned', () => {
    for (const [data, levels] of [[laplace(200_000, 11), 128], [normal(200_000, 12).map(Math.abs), 256]] as const) {
      const h = new StreamingHistogram('abs');
      h.update(data);
      const got = entropyThresholdBins(h.counts, levels);
      expect(got.bins).toBe(referenceEntropyBins(h.counts, levels));
      expect(Number.isFinite(got.divergence)).toBe(true);
    }
  });

  test('clips the tail of a Laplace distribution but keeps the bulk', () => {
    const x = laplace(500_000, 13, 1);
    const o = new HistogramObserver({ ...OBS, method: 'entropy' });
    o.update(x);
    const r = o.range();
    const maxAbs = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(r.min).toBe(-r.max); // signed data: symmetric range
    expect(r.max).toBeLessThan(0.8 * maxAbs);
    expect(r.max).toBeGreaterThan(3); // P(|x| > 3) ≈ 5%: that much is never clipped
  });
});

describe('mse', () => {
  test('picks a range whose real quantization MSE is within 2% of a brute-force search on the raw samples', () => {
    const x = laplace(60_000, 21, 1);
    const h = new StreamingHistogram('signed');
    h.update(x);
    const realMse = (a: number, b: number): number => {
      const { scale, zeroPoint } = affineParams(a, b, -128, 127);
      let e = 0;
      for (const v of x) {
        const q = Math.min(127, Math.max(-128, roundHalfEven(v / scale) + zeroPoint));
        e += (v - (q - zeroPoint) * scale) ** 2;
      }
      return e / x.length;
    };
    let best = Infinity;
    for (let k = 40; k <= 100; k += 2) best = Math.min(best, realMse((h.min * k) / 100, (h.max * k) / 100));
    const r = mseRange(h, -128, 127);
    expect(realMse(r.min, r.max)).toBeLessThan(best * 1.02);
    expect(realMse(r.min, r.max)).toBeLessThan(realMse(h.min, h.max) * 0.9); // clipping pays off on a heavy tail
  });
});

describe('min-max', () => {
  test('running and moving-average (ORT: new = old + c·(batch − old))', () => {
    const plain = new MinMaxObserver();
    const ema = new MinMaxObserver(0.5);
    for (const b of [[-1, 2], [-3, 1], [0, 6]]) {
      plain.update(new Float32Array(b));
      ema.update(new Float32Array(b));
    }
    expect(plain.range()).toEqual({ min: -3, max: 6 });
    // min: -1 → -1 + .5(-3+1) = -2 → -2 + .5(0+2) = -1; max: 2 → 1.5 → 3.75
    expect(ema.range()).toEqual({ min: -1, max: 3.75 });
  });
});
