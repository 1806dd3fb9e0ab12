/**
 * Clipping search against a plain-loop transcription of the AWQ auto_clip rule
 * on round 1's grid (written here, no code shared with src/), its degenerate
 * grid {1} against round 1 itself, and its point: a lower output error than RTN
 * on held-out inputs.
 */
import { intRange } from '../../src/passes/quantize/params';
import { dequantizeWeight, quantizeWeight } from '../../src/passes/quantize/weights';
import { clipSearch, shrinkGrid } from '../../src/passes/reconstruct';
import { correlatedInputs, outputError, plainHessian, weights } from './data';

const [ROWS, COLS, N] = [32, 128, 400];
const w = weights(ROWS, COLS, 51);
const x = correlatedInputs(N, COLS, 52);
const h = plainHessian(x, N, COLS);

const rint = (v: number): number => { const r = Math.round(v); return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; };

/** For each group: the p of the grid with the smallest Δᵀ·H_gg·Δ (first wins ties), by plain loops. */
function reference(bits: 4 | 8, sym: boolean, gc: number): { shrink: number[]; levels: number[] } {
  const qmax = sym ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const qmin = sym ? -qmax : 0;
  const shrink: number[] = [];
  const levels = new Array<number>(ROWS * COLS).fill(0);
  for (let r = 0; r < ROWS; r++) {
    for (let c0 = 0; c0 < COLS; c0 += gc) {
      const g = Array.from(w.subarray(r * COLS + c0, r * COLS + c0 + gc));
      let best = Infinity;
      let bestP = 1;
      for (let i = 0; i < 20; i++) {
        const p = 1 - (0.5 * i) / 19;
        let s: number;
        let zp = 0;
        if (sym) {
          s = Math.fround((p * Math.max(...g.map(Math.abs))) / qmax);
        } else {
          const lo = Math.min(0, p * Math.min(...g));
          const hi = Math.max(0, p * Math.max(...g));
          s = Math.fround((hi - lo) / (qmax - qmin));
          zp = Math.min(qmax, Math.max(qmin, rint(qmin - lo / s)));
        }
        const q = g.map((v) => Math.min(qmax, Math.max(qmin, rint(Math.fround(v * (1 / s))) + zp)));
        const d = g.map((v, j) => v - Math.fround((q[j] - zp) * s));
        let e = 0;
        for (let a = 0; a < gc; a++) for (let b = 0; b < gc; b++) e += d[a] * h[(c0 + a) * COLS + c0 + b] * d[b];
        if (e < best) {
          best = e;
          bestP = p;
          q.forEach((v, j) => { levels[r * COLS + c0 + j] = v; });
        }
      }
      shrink.push(bestP);
    }
  }
  return { shrink, levels };
}

test.each([[4, true, 32], [4, false, 32], [8, true, 64]] as const)('int%i sym=%s group %i: the same factors and levels as the transcription', (bits, sym, gc) => {
  const got = clipSearch(w, ROWS, COLS, h, { bits, symmetric: sym, groupSize: gc });
  const ref = reference(bits, sym, gc);
  expect(Array.from(got.shrink)).toEqual(ref.shrink);
  expect(Array.from(got.weight.values)).toEqual(ref.levels);
  expect(Array.from(dequantizeWeight(got.weight, [ROWS, COLS]))).toEqual(Array.from(got.dequantized));
  for (let k = 0; k < got.error.length; k++) expect(got.error[k]).toBeLessThanOrEqual(got.rtnError[k]);
  expect(got.shrink.some((p) => p < 1)).toBe(true);
});

test('a grid of only p = 1 is round 1 exactly', () => {
  expect(shrinkGrid(1)).toEqual([1]);
  expect(shrinkGrid()).toHaveLength(20);
  expect(shrinkGrid()[19]).toBe(0.5);
  for (const sym of [true, false]) {
    const got = clipSearch(w, ROWS, COLS, h, { bits: 4, symmetric: sym, groupSize: 32, steps: 1 });
    const rtn = quantizeWeight(w, [ROWS, COLS], got.weight.layout, intRange(4, sym), 'w');
    expect(Array.from(got.weight.values)).toEqual(Array.from(rtn.values));
    expect(Array.from(got.weight.scales)).toEqual(Array.from(rtn.scales));
    expect(Array.from(got.weight.zeroPoints)).toEqual(Array.from(rtn.zeroPoints));
  }
});

test('lower ‖(W − Ŵ)X‖² than RTN on held-out inputs (int4 block 32 and per channel)', () => {
  const held = correlatedInputs(N, COLS, 53);
  for (const groupSize of [32, 0]) {
    const got = clipSearch(w, ROWS, COLS, h, { bits: 4, symmetric: true, groupSize });
    const rtn = dequantizeWeight(quantizeWeight(w, [ROWS, COLS], got.weight.layout, intRange(4, true), 'w'), [ROWS, COLS]);
    const ec = outputError(w, got.dequantized, ROWS, COLS, held, N);
    const er = outputError(w, rtn, ROWS, COLS, held, N);
    // eslint-disable-next-line no-console
    console.log(`int4 ${groupSize ? `block ${groupSize}` : 'per channel'}: clip-search/RTN output error on held-out inputs = ${(ec / er).toFixed(3)}`);
    expect(ec).toBeLessThan(er);
  }
});

test('a Conv weight [12, 8, 3, 3] block 4: grid {1} is round 1, and the search lowers each group\'s error', () => {
  const shape = [12, 8, 3, 3];
  const [rows, cols] = [12, 72];
  const wc = weights(rows, cols, 54);
  const hc = plainHessian(correlatedInputs(300, cols, 55), 300, cols);
  const layout = { granularity: 'block' as const, axis: 1, blockSize: 4 };
  const rtn = quantizeWeight(wc, shape, layout, intRange(4, true), 'conv');
  const one = clipSearch(wc, rows, cols, hc, { bits: 4, symmetric: true, groupSize: 4, shape, steps: 1 });
  expect(Array.from(one.weight.values)).toEqual(Array.from(rtn.values));
  expect(Array.from(one.weight.scales)).toEqual(Array.from(rtn.scales));
  const got = clipSearch(wc, rows, cols, hc, { bits: 4, symmetric: true, groupSize: 4, shape });
  expect(got.weight.scaleShape).toEqual([12, 2, 3, 3]);
  expect(Array.from(dequantizeWeight(got.weight, shape))).toEqual(Array.from(got.dequantized));
  for (let k = 0; k < got.error.length; k++) expect(got.error[k]).toBeLessThanOrEqual(got.rtnError[k]);
});
