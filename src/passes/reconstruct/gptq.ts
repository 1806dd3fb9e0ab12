/**
 * GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, "GPTQ: Accurate Post-Training
 * Quantization for Generative Pre-trained Transformers", ICLR 2023): quantize a
 * weight column by column and spread each column's rounding error over the
 * columns not yet quantized, weighted by the inverse Hessian of the layer's
 * output error, so that ‖(W − Ŵ)X‖² stays small on the calibration inputs X.
 *
 * A transcription of IST-DASLab/gptq gptq.py `fasterquant` (blocksize, percdamp,
 * groupsize with static_groups=True, actorder) over one matrix, with no model
 * knowledge. Differences, each deliberate:
 *  - float64 throughout (the reference runs in float32);
 *  - the grid is mc's own (grid.ts): round 1's scales and zero points from the
 *    original weight, so the emitted forms are round 1's; levels are rounded half
 *    to even and dequantized as float32((q − zp)·scale), as DequantizeLinear does;
 *  - the groups are fixed before the sweep from the original weight (the
 *    reference's static_groups), whether or not act-order is on; the reference
 *    computes them after zeroing dead columns, round 1 from the weight as is;
 *  - act-order sorts stably (see prepare.ts).
 */
import { sqnrDb } from '../quantize/params';
import { QuantizedWeight } from '../quantize/weights';
import { dequantOf, GridOptions, groupOf, levelOf, quantGrid } from './grid';
import { prepareHessian } from './prepare';
import { sweep } from './sweep';

export interface GptqOptions extends GridOptions {
  /** Permute columns by descending diag H (`--act-order`). */
  actOrder?: boolean;
  /** Dampening as a fraction of mean(diag H) (`--damp`, default 0.01). */
  percdamp?: number;
  /** Columns per lazy-batch block (default 128). */
  blockSize?: number;
  /** Names the layer in errors. */
  name?: string;
}

export interface GptqResult {
  /** Round 1's form (dtype, scales, zero points, scale shape, layout) with GPTQ's levels. */
  weight: QuantizedWeight;
  /** float32((q − zp)·scale), [rows, cols]: what DequantizeLinear gives back. */
  dequantized: Float32Array;
  /** Σ over rows of (w − q)²/[R]ᵢᵢ²/2 per original column (the reference's Losses summed over rows). */
  columnLoss: Float64Array;
  /** The sum of columnLoss (the reference's printed 'error'). */
  loss: number;
  /** Columns whose H[i,i] was 0: their weights were set to 0 before quantizing. */
  deadColumns: number[];
  /** The absolute dampening added to diag H. */
  damp: number;
}

/**
 * GPTQ on W [rows = outputs, cols = inputs] (row-major) with H = 2·XᵀX/N [cols, cols].
 * Throws NotPositiveDefiniteError (naming the column) when H is not positive
 * definite even after dampening; the caller falls back to round-to-nearest.
 */
export function gptqQuantize(
  w: Float32Array | Float64Array, rows: number, cols: number, h: Float64Array, opts: GptqOptions,
): GptqResult {
  if (w.length !== rows * cols) throw new RangeError(`weight has ${w.length} elements, expected ${rows}×${cols}`);
  const name = opts.name ?? 'weight';
  const grid = quantGrid(w, rows, cols, opts, name);
  const prep = prepareHessian(h, cols, { percdamp: opts.percdamp ?? 0.01, actOrder: opts.actOrder ?? false, name });
  const { perm } = prep;
  const wp = new Float64Array(rows * cols);
  const isDead = new Uint8Array(cols);
  for (const c of prep.dead) isDead[c] = 1;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) wp[o + i] = isDead[perm[i]] ? 0 : w[o + perm[i]];
  }
  const signed = grid.range.qmin < 0;
  const levels = signed ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  const loss = sweep(wp, rows, cols, prep.r, opts.blockSize ?? 128, {
    at(r, i, wi) {
      const c = perm[i];
      const k = groupOf(grid, r, c);
      const q = levelOf(grid, k, wi);
      levels[r * cols + c] = q | 0; // an int store (a float64 store into a typed array takes the slow path)
      return dequantOf(grid, k, q);
    },
  });
  const dequantized = new Float32Array(rows * cols);
  const columnLoss = new Float64Array(cols);
  let signal = 0;
  let noise = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) {
      const c = perm[i];
      dequantized[o + c] = wp[o + i];
    }
    for (let c = 0; c < cols; c++) {
      const v = Math.fround(w[o + c]);
      const e = v - dequantized[o + c];
      signal += v * v;
      noise += e * e;
    }
  }
  let total = 0;
  for (let i = 0; i < cols; i++) {
    columnLoss[perm[i]] = loss.column[i];
    total += loss.column[i];
  }
  const weight: QuantizedWeight = { ...grid.rtn, values: levels, sqnrDb: sqnrDb(signal, noise) };
  return { weight, dequantized, columnLoss, loss: total, deadColumns: prep.dead, damp: prep.damp };
}
