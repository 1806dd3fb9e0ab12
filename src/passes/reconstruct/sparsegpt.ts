/**
 * SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be
 * Accurately Pruned in One-Shot", ICML 2023): prune a weight column block by
 * column block, choosing the mask by w²/[R]ᵢᵢ² (R the upper Cholesky factor of
 * H⁻¹, as in GPTQ) and updating the weights that remain to absorb the error.
 *
 * A transcription of IST-DASLab/sparsegpt sparsegpt.py `fasterprune`
 * (sparsity, prunen/prunem, blocksize, percdamp, and the optional quantizer of
 * the kept weights) over one matrix. Differences, each deliberate:
 *  - float64 throughout;
 *  - the quantizer is mc's grid (grid.ts: round 1's scales from the original
 *    weight, per channel or in blocks), where the reference finds per-channel
 *    parameters on the original weight; a pruned weight is 0 on that grid too;
 *  - n:m picks the n smallest scores of each group with ties to the lower column
 *    (torch.topk leaves the order of ties unspecified);
 *  - sparsity 0 (unstructured) prunes nothing, where the reference's threshold
 *    (the smallest score of the block, compared with ≤) prunes at least one
 *    weight per block.
 *
 * Global scope is the caller's: `sparsegptScores` gives every weight's score on
 * the original W, and `layerSparsities` turns one global ranking into a sparsity
 * per layer for `sparsegptPrune`.
 */
import { sqnrDb } from '../quantize/params';
import { QuantizedWeight } from '../quantize/weights';
import { dequantOf, GridOptions, groupOf, levelOf, quantGrid, QuantGrid } from './grid';
import { prepareHessian } from './prepare';
import { SUB, sweep } from './sweep';

export interface SparseGptOptions {
  /** Fraction of each block's weights to prune (unstructured; ignored when prunen > 0). */
  sparsity: number;
  /** n:m: prune `prunen` of every `prunem` consecutive inputs of each row (0: unstructured). */
  prunen?: number;
  prunem?: number;
  /** Columns per block (default 128; a multiple of prunem). */
  blockSize?: number;
  /** Dampening as a fraction of mean(diag H) (default 0.01). */
  percdamp?: number;
  /** Quantize the kept weights onto round 1's grid in the same pass. */
  quantize?: GridOptions;
  name?: string;
}

export interface SparseGptResult {
  /** The pruned weights [rows, cols] (dequantized levels when quantize is set). */
  weights: Float32Array;
  /** 1 where a weight was pruned. */
  mask: Uint8Array;
  /** With quantize: round 1's form with the levels of the kept (and pruned: zero-point) weights. */
  quantized?: QuantizedWeight;
  /** Σ over columns of (w − q)²/[R]ᵢᵢ²/2 per row (the reference's Losses). */
  rowLoss: Float64Array;
  loss: number;
  deadColumns: number[];
  damp: number;
}

export function sparsegptPrune(
  w: Float32Array | Float64Array, rows: number, cols: number, h: Float64Array, opts: SparseGptOptions,
): SparseGptResult {
  if (w.length !== rows * cols) throw new RangeError(`weight has ${w.length} elements, expected ${rows}×${cols}`);
  const name = opts.name ?? 'weight';
  const prunen = opts.prunen ?? 0;
  const prunem = opts.prunem ?? 0;
  const blockSize = opts.blockSize ?? 128;
  if (prunen > 0 && (prunem <= prunen || blockSize % prunem !== 0)) {
    throw new RangeError(`n:m pruning needs 0 < n < m and a block size that m divides (n ${prunen}, m ${prunem}, block ${blockSize})`);
  }
  if (!(opts.sparsity >= 0 && opts.sparsity < 1)) throw new RangeError(`sparsity must be in [0, 1), got ${opts.sparsity}`);
  const grid: QuantGrid | undefined = opts.quantize ? quantGrid(w, rows, cols, opts.quantize, name) : undefined;
  const prep = prepareHessian(h, cols, { percdamp: opts.percdamp ?? 0.01, actOrder: false, name });
  const r = prep.r;
  const wp = new Float64Array(rows * cols);
  for (let i = 0; i < w.length; i++) wp[i] = w[i];
  for (const c of prep.dead) for (let rr = 0; rr < rows; rr++) wp[rr * cols + c] = 0;
  const mask = new Uint8Array(rows * cols);
  const signed = grid ? grid.range.qmin < 0 : false;
  const levels = grid ? (signed ? new Int8Array(rows * cols) : new Uint8Array(rows * cols)) : undefined;
  const invD2 = new Float64Array(cols);
  for (let i = 0; i < cols; i++) invD2[i] = r[i * cols + i] ** 2;
  // n:m reads W[r, i .. i + m) at i: its group must lie in one sub-block of the sweep.
  const sub = prunen > 0 ? prunem * Math.ceil(SUB / prunem) : SUB;
  const loss = sweep(wp, rows, cols, r, blockSize, {
    block(i1, i2) {
      if (prunen > 0 || opts.sparsity === 0) return;
      // tmp = W1² / diag(Hinv1)²; thresh = sort(tmp)[int(numel · sparsity)]; mask1 = tmp ≤ thresh
      const count = i2 - i1;
      const tmp = new Float64Array(rows * count);
      for (let rr = 0; rr < rows; rr++) {
        for (let i = i1; i < i2; i++) tmp[rr * count + i - i1] = wp[rr * cols + i] ** 2 / invD2[i];
      }
      const sorted = tmp.slice().sort();
      const thresh = sorted[Math.floor(tmp.length * opts.sparsity)];
      for (let rr = 0; rr < rows; rr++) {
        for (let i = i1; i < i2; i++) if (tmp[rr * count + i - i1] <= thresh) mask[rr * cols + i] = 1;
      }
    },
    at(rr, i, wi) {
      const o = rr * cols;
      if (prunen > 0 && i % prunem === 0) pickNofM(wp, o, i, Math.min(prunem, cols - i), prunen, invD2, mask);
      let q = mask[o + i] ? 0 : wi;
      if (grid && levels) {
        const k = groupOf(grid, rr, i);
        const lv = levelOf(grid, k, q);
        levels[o + i] = lv | 0;
        q = dequantOf(grid, k, lv);
      }
      return q;
    },
  }, sub);
  let total = 0;
  for (let rr = 0; rr < rows; rr++) total += loss.row[rr];
  const weights = Float32Array.from(wp);
  let quantized: QuantizedWeight | undefined;
  if (grid && levels) {
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < weights.length; i++) {
      const v = Math.fround(w[i]);
      signal += v * v;
      noise += (v - weights[i]) ** 2;
    }
    quantized = { ...grid.rtn, values: levels, sqnrDb: sqnrDb(signal, noise) };
  }
  return { weights, mask, quantized, rowLoss: loss.row, loss: total, deadColumns: prep.dead, damp: prep.damp };
}

/** Marks the n lowest w²/[R]ᵢᵢ² of W[row, i .. i + m) (current values), ties to the lower column. */
function pickNofM(wp: Float64Array, o: number, i: number, m: number, n: number, invD2: Float64Array, mask: Uint8Array): void {
  const idx = Array.from({ length: m }, (_, j) => j);
  const s = idx.map((j) => wp[o + i + j] ** 2 / invD2[i + j]);
  idx.sort((a, b) => s[a] - s[b] || a - b);
  for (let t = 0; t < Math.min(n, m); t++) mask[o + i + idx[t]] = 1;
}

/**
 * Every weight's SparseGPT score w²/[R]ᵢᵢ² on the original W (dead columns: 0),
 * the ranking the reference's first block uses; for global allocation across layers.
 */
export function sparsegptScores(w: Float32Array | Float64Array, rows: number, cols: number, h: Float64Array, percdamp = 0.01, name = 'weight'): Float64Array {
  const prep = prepareHessian(h, cols, { percdamp, actOrder: false, name });
  const dead = new Uint8Array(cols);
  for (const c of prep.dead) dead[c] = 1;
  const out = new Float64Array(rows * cols);
  for (let rr = 0; rr < rows; rr++) {
    for (let c = 0; c < cols; c++) out[rr * cols + c] = dead[c] ? 0 : w[rr * cols + c] ** 2 / prep.r[c * cols + c] ** 2;
  }
  return out;
}

/**
 * Per-layer sparsities from one global ranking of the layers' scores: the
 * threshold is the score at rank floor(total · sparsity) of all weights together,
 * and each layer gets the fraction of its own scores below it (the allocation a
 * global magnitude ranking makes, with SparseGPT's scores in place of |w|).
 */
export function layerSparsities(scores: readonly Float64Array[], sparsity: number): number[] {
  const total = scores.reduce((a, s) => a + s.length, 0);
  if (total === 0 || sparsity <= 0) return scores.map(() => 0);
  const all = new Float64Array(total);
  let at = 0;
  for (const s of scores) { all.set(s, at); at += s.length; }
  all.sort();
  const k = Math.min(total - 1, Math.floor(total * sparsity));
  const thresh = all[k];
  return scores.map((s) => {
    let below = 0;
    for (let i = 0; i < s.length; i++) if (s[i] < thresh) below++;
    return s.length ? below / s.length : 0;
  });
}
