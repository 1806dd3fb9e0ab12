/**
 * The fast paths of histogram calibration against literal versions of the
 * same computations: the WebAssembly binning kernel against the plain JS
 * loop, the entropy search against the O(bins²) loop of its file comment, and
 * the MSE search against a loop over every bin. All must agree exactly (===),
 * not within a tolerance: calibration results must not depend on the path.
 */
import { entropyThresholdBins, mseRange, StreamingHistogram } from '../../src/calibrate';
import { binKernel } from '../../src/calibrate/bin-kernel';
import { affineParams } from '../../src/passes/quantize/params';
import { rng } from './helpers';

/** Seeded batches of varied shape: scales, ReLU zeros, grid values, one-signed data, NaN/±Inf, −0, tiny batches. */
function batches(seed: number): Float32Array[] {
  const u = rng(seed);
  const out: Float32Array[] = [];
  const count = 1 + Math.floor(u() * 6);
  for (let b = 0; b < count; b++) {
    const n = u() < 0.15 ? Math.floor(u() * 6) : Math.floor(u() * 5000);
    const a = new Float32Array(n);
    const scale = Math.exp((u() - 0.5) * 10);
    const kind = Math.floor(u() * 6);
    for (let i = 0; i < n; i++) {
      let v = (u() - 0.5) * scale * (b + 1);
      if (kind === 1) v = Math.max(0, v);
      if (kind === 2) v = Math.round(v * 8) / 8; // many values on bin edges
      if (kind === 3 && u() < 0.6) v = 0;
      if (kind === 4) v = -Math.abs(v);
      if (kind === 5) v = 0;
      a[i] = v;
    }
    if (n && u() < 0.08) a[Math.floor(u() * n)] = NaN;
    if (n && u() < 0.08) a[Math.floor(u() * n)] = u() < 0.5 ? Infinity : -Infinity;
    if (n && u() < 0.1) a[0] = -0;
    out.push(a);
  }
  return out;
}

function histogram(mode: 'signed' | 'abs', bins: number, data: Float32Array[], kernel: boolean): StreamingHistogram {
  const saved = StreamingHistogram.useKernel;
  StreamingHistogram.useKernel = kernel;
  try {
    const h = new StreamingHistogram(mode, bins);
    for (const b of data) h.update(b);
    return h;
  } finally {
    StreamingHistogram.useKernel = saved;
  }
}

describe('binning kernel', () => {
  test('is available here (else every comparison below would test the JS path against itself)', () => {
    expect(binKernel()).toBeDefined();
  });

  test('counts one window exactly as floor(clamp(x·inv − off, 0, bins − 1)), min/max and NaN flag', () => {
    const k = binKernel()!;
    const bins = 64;
    const w = 0.125;
    const off = -20;
    // Edges, half-edges, values just outside both ends, and n % 4 = 3 values left for the caller.
    const x = Float32Array.from([-2.5, -2.5 + 1e-7, 0, -0, 1.375, 5.5, 5.5 - 1e-6, 5.499, -2.51, 1e-30, 3.75, 7, 2, 0.0625, -1.125]);
    const counts = new Uint32Array(bins);
    const r = k.bin(x, false, 1 / w, off, bins, counts)!;
    const ref = new Uint32Array(bins);
    const n4 = x.length & ~3;
    for (let i = 0; i < n4; i++) {
      const y = Math.min(Math.max(x[i] * (1 / w) - off, 0), bins - 1);
      ref[Math.floor(y)]++;
    }
    expect(Array.from(counts)).toEqual(Array.from(ref));
    expect(counts.reduce((a, c) => a + c, 0)).toBe(n4);
    expect(r.min).toBe(Math.fround(-2.51));
    expect(r.max).toBe(7);
    expect(r.nan).toBe(false);
    const withNaN = Float32Array.from([1, 2, NaN, 3]);
    expect(k.bin(withNaN, false, 1, 0, bins, new Uint32Array(bins))!.nan).toBe(true);
    const abs = k.bin(Float32Array.from([-3, 1, -0.5, 2]), true, 1, 0, bins, new Uint32Array(bins))!;
    expect([abs.min, abs.max, abs.rawMin]).toEqual([0.5, 3, -3]);
  });

  test('StreamingHistogram: kernel path === JS path over 600 seeded batch sequences, both modes, several bin counts', () => {
    const mismatches: string[] = [];
    let kernelBatches = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const data = batches(seed);
      kernelBatches += data.filter((b) => b.length >= 4).length;
      for (const mode of ['signed', 'abs'] as const) {
        const bins = [2048, 256, 37][seed % 3];
        const a = histogram(mode, bins, data, true);
        const b = histogram(mode, bins, data, false);
        const fields = ['binWidth', 'offset', 'min', 'max', 'skipped', 'sawNegative', 'total'] as const;
        const bad = fields.filter((f) => a[f] !== b[f]);
        if (a.counts.some((c, j) => c !== b.counts[j])) bad.push('counts' as never);
        if (bad.length) mismatches.push(`seed ${seed} ${mode}: ${bad.join(', ')}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(kernelBatches).toBeGreaterThan(1000);
  });

  test('−0 is stored as 0 (either path), whichever zero comes first', () => {
    for (const kernel of [true, false]) {
      const h = histogram('signed', 16, [Float32Array.from([-0, -0, -1, -2, -0, -3, -0, -0])], kernel);
      expect(Object.is(h.max, 0)).toBe(true);
      const g = histogram('abs', 16, [Float32Array.from([-0, 0, 1, 2, 3])], kernel);
      expect(Object.is(g.min, 0)).toBe(true);
    }
  });
});

/** The entropy loop exactly as the file comment states it, for every candidate (the former implementation). */
function literalEntropy(hist: Float64Array, levels: number, startBin = 128): { bins: number; divergence: number } {
  const n = hist.length;
  const bins = Float64Array.from(hist);
  if (n > 1) bins[0] = bins[1];
  let best = -1;
  let bestDiv = Infinity;
  const suffix = new Float64Array(n + 1);
  for (let j = n - 1; j >= 0; j--) suffix[j] = suffix[j + 1] + bins[j];
  for (let i = Math.min(startBin, n); i <= n; i++) {
    const levelSum = new Float64Array(levels);
    const levelNonZero = new Int32Array(levels);
    for (let j = 0; j < i; j++) {
      if (bins[j] === 0) continue;
      const l = Math.floor((j * levels) / i);
      levelSum[l] += bins[j];
      levelNonZero[l]++;
    }
    const pTotal = suffix[0];
    const qTotal = pTotal - suffix[i];
    if (pTotal === 0) break;
    let div = 0;
    for (let j = 0; j < i; j++) {
      const p = bins[j] + (j === i - 1 ? suffix[i] : 0);
      if (p === 0) continue;
      const l = Math.floor((j * levels) / i);
      const q = bins[j] === 0 ? 0 : levelSum[l] / levelNonZero[l];
      if (q === 0 || qTotal === 0) { div = Infinity; break; }
      const pn = p / pTotal;
      div += pn * Math.log(pn / (q / qTotal));
    }
    if (div <= bestDiv) { bestDiv = div; best = i; }
  }
  return { bins: best < 0 ? n : best, divergence: bestDiv };
}

/** Seeded histograms with decays, gaps, plateaus (ties), spikes, empty tails and huge counts. */
function histograms(): Float64Array[] {
  const out: Float64Array[] = [];
  for (let seed = 1; seed <= 48; seed++) {
    const u = rng(seed);
    const n = [16, 129, 200, 300, 400][seed % 5];
    const scale = Math.exp(u() * 30);
    const h = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      switch (seed % 6) {
        case 0: h[j] = Math.floor(scale * Math.exp(-j / (n * u() * 0.3 + 1))); break;
        case 1: h[j] = u() < 0.3 ? 0 : Math.floor(u() * scale); break;
        case 2: h[j] = j < n / 3 ? Math.floor(scale) : 0; break;
        case 3: h[j] = 1; break;
        case 4: h[j] = j % 7 === 0 ? Math.floor(scale * u()) : 0; break;
        default: h[j] = Math.floor(scale * Math.exp(-((j - n / 4) ** 2) / (2 * (n / 10) ** 2)));
      }
    }
    out.push(h);
  }
  out.push(new Float64Array(300), Float64Array.from([0, 5]), new Float64Array(0));
  return out;
}

describe('entropy search', () => {
  test('threshold and divergence equal the literal O(bins²) loop bit for bit', () => {
    let finite = 0;
    for (const [i, h] of histograms().entries()) {
      for (const levels of [128, 256, 100]) {
        for (const start of i % 4 ? [128] : [128, 0, 1]) {
          const want = literalEntropy(h, levels, start);
          const got = entropyThresholdBins(h, levels, start);
          expect(got.bins).toBe(want.bins);
          expect(Object.is(got.divergence, want.divergence)).toBe(true);
          if (Number.isFinite(want.divergence)) finite++;
        }
      }
    }
    expect(finite).toBeGreaterThan(100);
  });
});

/** MSE priced over every bin (the former implementation). */
function literalMse(h: StreamingHistogram, qmin: number, qmax: number, candidates = 512): { min: number; max: number; mse: number } {
  const lo = Math.min(h.min, 0);
  const hi = Math.max(h.max, 0);
  const total = h.total;
  const w = h.binWidth;
  const binNoise = (w * w) / 12;
  let best = { min: lo, max: hi, mse: Infinity };
  for (let k = 1; k <= candidates; k++) {
    const a = (lo * k) / candidates;
    const b = (hi * k) / candidates;
    const { scale, zeroPoint } = affineParams(a, b, qmin, qmax);
    const left = scale * (qmin - zeroPoint);
    const right = scale * (qmax - zeroPoint);
    let err = 0;
    for (let j = 0; j < h.bins; j++) {
      const n = h.counts[j];
      if (n === 0) continue;
      const c = h.edge(j) + w / 2;
      if (c < left) err += n * ((c - left) ** 2 + binNoise);
      else if (c > right) err += n * ((c - right) ** 2 + binNoise);
      else err += n * ((scale * scale) / 12);
    }
    if (err / total < best.mse) best = { min: a, max: b, mse: err / total };
  }
  return best;
}

describe('mse search', () => {
  test('range and error equal a loop over every bin, bit for bit', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const h = new StreamingHistogram('signed', seed % 2 ? 2048 : 300);
      for (const b of batches(seed)) h.update(b);
      if (h.binWidth === 0) continue;
      for (const [qmin, qmax] of [[-128, 127], [0, 255]]) {
        const got = mseRange(h, qmin, qmax);
        const want = literalMse(h, qmin, qmax);
        expect([got.min, got.max, got.mse]).toEqual([want.min, want.max, want.mse]);
      }
    }
  });
});
