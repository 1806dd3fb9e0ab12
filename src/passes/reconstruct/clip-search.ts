/**
 * Clipping search for round-to-nearest (the AWQ / onnxruntime form: AWQ
 * auto_clip, Lin et al. 2024, §3.3 and its reference code; ORT's
 * matmul_4bits_quantizer AWQ path): per scale group, try the grid
 * p ∈ {1, 1 − h, …, 0.5} (20 factors, h = 0.5/19) of the group's range, quantize
 * with round 1's rules on the shrunk range, and keep the p with the smallest
 * output error on the calibration inputs,
 *   E‖(w − ŵ)·x‖² = Δᵀ·H_gg·Δ (up to the factor 2/N in H),
 * where Δ is the group's weight error and H_gg the block of H over the group's
 * inputs (AWQ measures each group on its own input slice, as here). p = 1 is
 * round 1's RTN exactly, and it wins ties, so no group gets worse on the
 * calibration data. A cheap alternative to GPTQ: no factorisation, only H's
 * diagonal blocks (per channel: all of H, 40·rows·cols² flops on the kernel).
 */
import { gemmSub, view } from '../../linalg';
import { affineParams, roundHalfEven, sqnrDb, symmetricScale } from '../quantize/params';
import { QuantizedWeight } from '../quantize/weights';
import { GridOptions, quantGrid } from './grid';

export interface ClipSearchOptions extends GridOptions {
  /** Number of shrink factors, from 1 down to `minShrink` inclusive (default 20). */
  steps?: number;
  /** Smallest factor tried (default 0.5). */
  minShrink?: number;
  name?: string;
}

export interface ClipSearchResult {
  /** Round 1's form (dtype, layout, scale shape) with the chosen scales, zero points and levels. */
  weight: QuantizedWeight;
  dequantized: Float32Array;
  /** The chosen factor per group (round 1's scale order). */
  shrink: Float64Array;
  /** Δᵀ·H_gg·Δ per group: chosen, and for RTN (p = 1). */
  error: Float64Array;
  rtnError: Float64Array;
}

/** The shrink factors tried, in order (1 first). */
export function shrinkGrid(steps = 20, minShrink = 0.5): number[] {
  return Array.from({ length: steps }, (_, i) => (steps === 1 ? 1 : 1 - ((1 - minShrink) * i) / (steps - 1)));
}

export function clipSearch(
  w: Float32Array | Float64Array, rows: number, cols: number, h: Float64Array, opts: ClipSearchOptions,
): ClipSearchResult {
  if (w.length !== rows * cols) throw new RangeError(`weight has ${w.length} elements, expected ${rows}×${cols}`);
  if (h.length !== cols * cols) throw new RangeError(`H has ${h.length} elements, expected ${cols}×${cols}`);
  const w32 = w instanceof Float32Array ? w : Float32Array.from(w);
  const grid = quantGrid(w32, rows, cols, opts, opts.name ?? 'weight');
  const { range, groupsPerRow: gpr, colGroup } = grid;
  const sym = range.qmin === -range.qmax;
  const factors = shrinkGrid(opts.steps, opts.minShrink);
  const groups = rows * gpr;
  const scales = new Float32Array(groups);
  const zps = new Int32Array(groups);
  const shrink = new Float64Array(groups);
  const error = new Float64Array(groups).fill(Infinity);
  const rtnError = new Float64Array(groups);
  const levels = new Int32Array(rows * cols);
  // the columns of each group within a row (consecutive, or kh·kw apart for a Conv)
  const members: number[][] = Array.from({ length: gpr }, () => []);
  for (let c = 0; c < cols; c++) members[colGroup[c]].push(c);
  for (let b = 0; b < gpr; b++) {
    const at = members[b];
    const bs = at.length;
    const hg = new Float64Array(bs * bs);
    for (let i = 0; i < bs; i++) for (let j = 0; j < bs; j++) hg[i * bs + j] = h[at[i] * cols + at[j]];
    // the group's range in each row
    const lo = new Float64Array(rows);
    const hi = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let mn = Infinity;
      let mx = -Infinity;
      let am = 0;
      for (const c of at) {
        const v = w32[r * cols + c];
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        if (Math.abs(v) > am) am = Math.abs(v);
      }
      lo[r] = sym ? -am : mn;
      hi[r] = sym ? am : mx;
    }
    const negH = hg.map((v) => -v);
    const delta = new Float64Array(rows * bs);
    const prod = new Float64Array(rows * bs);
    const q = new Int32Array(rows * bs);
    const s = new Float32Array(rows);
    const z = new Int32Array(rows);
    for (const p of factors) {
      for (let r = 0; r < rows; r++) {
        let sc: number;
        let zp = 0;
        if (sym) sc = symmetricScale(p * hi[r], range.qmax);
        else ({ scale: sc, zeroPoint: zp } = affineParams(p * lo[r], p * hi[r], range.qmin, range.qmax));
        s[r] = sc;
        z[r] = zp;
        const inv = 1 / sc;
        const a = range.qmin - zp;
        const bnd = range.qmax - zp;
        for (let j = 0; j < bs; j++) {
          // round 1's quantizer (weights.ts): x = float32(v · (1/s)), clamped, rounded half to even
          const v = w32[r * cols + at[j]];
          let x = Math.fround(v * inv);
          x = x < a ? a : x > bnd ? bnd : x;
          const lv = roundHalfEven(x);
          q[r * bs + j] = lv + zp;
          delta[r * bs + j] = v - Math.fround(lv * sc);
        }
      }
      // prod = −Δ·H_gg on the kernel; error_r = Σ_j Δ_rj·(Δ·H_gg)_rj
      prod.fill(0);
      gemmSub(prod, 0, bs, rows, bs, bs, view(delta, bs), view(negH, bs));
      for (let r = 0; r < rows; r++) {
        let e = 0;
        for (let j = 0; j < bs; j++) e += delta[r * bs + j] * prod[r * bs + j];
        const k = r * gpr + b;
        if (p === 1) rtnError[k] = e;
        if (e < error[k]) {
          error[k] = e;
          shrink[k] = p;
          scales[k] = s[r];
          zps[k] = z[r];
          for (let j = 0; j < bs; j++) levels[r * cols + at[j]] = q[r * bs + j];
        }
      }
    }
  }
  const signed = range.qmin < 0;
  const values = signed ? Int8Array.from(levels) : Uint8Array.from(levels);
  const zeroPoints = signed ? Int8Array.from(zps) : Uint8Array.from(zps);
  const dequantized = new Float32Array(rows * cols);
  let sig = 0;
  let noise = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = r * gpr + colGroup[c];
      const d = Math.fround((levels[r * cols + c] - zps[k]) * scales[k]);
      dequantized[r * cols + c] = d;
      const v = w32[r * cols + c];
      sig += v * v;
      noise += (v - d) ** 2;
    }
  }
  const weight: QuantizedWeight = { ...grid.rtn, values, scales, zeroPoints, sqnrDb: sqnrDb(sig, noise) };
  return { weight, dequantized, shrink, error, rtnError };
}
