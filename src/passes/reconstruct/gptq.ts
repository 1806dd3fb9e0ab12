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
 *  - act-order sorts stably (see prepare.ts);
 *  - R comes from one Cholesky and one triangular inverse instead of three
 *    factorisations (linalg/inverse.ts), and the rank-1 updates inside a block are
 *    grouped in 32-column sub-blocks (sweep.ts): the same sums, grouped differently.
 * The tests hold it to a plain-loop transcription and to gptq.py run by torch in
 * float64: the same levels, weights to 1e-9.
 */
import { roundHalfEven, sqnrDb } from '../quantize/params';
import { QuantizedWeight } from '../quantize/weights';
import { GridOptions, QuantGrid, quantGrid } from './grid';
import { PreparedHessian, prepareHessian } from './prepare';
import { sweep, SweepLoss } from './sweep';

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
  /** Σ over rows of (w − q)²/[R]ᵢᵢ²/2 per original column (the reference's Losses summed over rows;
   *  with threads, summed per row range, so equal to rounding across thread counts). */
  columnLoss: Float64Array;
  /** The sum of all losses, from per-row sums in row order (the reference's printed 'error'); the same bits with any threads. */
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
  const plan = planGptq(w, rows, cols, h, opts, (n) => new Float64Array(n), (n, signed) => (signed ? new Int8Array(n) : new Uint8Array(n)));
  const loss = sweepGptqRows(plan.job, plan.wp, plan.levels, 0, rows);
  return finishGptq(plan, w, [loss]);
}

/** What a range of rows needs for the sweep: plain typed arrays, so a worker thread can take it. */
export interface GptqRowsJob {
  cols: number;
  blockSize: number;
  /** Upper Cholesky factor of H⁻¹, permuted order. */
  r: Float64Array;
  perm: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
  qmin: number;
  qmax: number;
  groupsPerRow: number;
  /** The scale group of each original column within its row (grid.ts). */
  colGroup: Int32Array;
}

export interface GptqPlan {
  rows: number;
  cols: number;
  job: GptqRowsJob;
  /** W in the sweep's column order (float64, dead columns zeroed); overwritten with the dequantized levels. */
  wp: Float64Array;
  /** Levels in the original order. */
  levels: Int8Array | Uint8Array;
  grid: QuantGrid;
  prep: PreparedHessian;
}

/** Grid, factorisation and the permuted float64 W; `alloc` chooses the storage of wp and levels (shared memory for threads). */
export function planGptq(
  w: Float32Array | Float64Array, rows: number, cols: number, h: Float64Array, opts: GptqOptions,
  alloc: (n: number) => Float64Array, allocLevels: (n: number, signed: boolean) => Int8Array | Uint8Array,
): GptqPlan {
  if (w.length !== rows * cols) throw new RangeError(`weight has ${w.length} elements, expected ${rows}×${cols}`);
  const name = opts.name ?? 'weight';
  const grid = quantGrid(w, rows, cols, opts, name);
  const prep = prepareHessian(h, cols, { percdamp: opts.percdamp ?? 0.01, actOrder: opts.actOrder ?? false, name, alloc });
  const { perm } = prep;
  const wp = alloc(rows * cols);
  const isDead = new Uint8Array(cols);
  for (const c of prep.dead) isDead[c] = 1;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) wp[o + i] = isDead[perm[i]] ? 0 : w[o + perm[i]];
  }
  const job: GptqRowsJob = {
    cols, blockSize: opts.blockSize ?? 128, r: prep.r, perm, scales: grid.rtn.scales, zeroPoints: Int32Array.from(grid.rtn.zeroPoints),
    qmin: grid.range.qmin, qmax: grid.range.qmax, groupsPerRow: grid.groupsPerRow, colGroup: grid.colGroup,
  };
  return { rows, cols, job, wp, levels: allocLevels(rows * cols, grid.range.qmin < 0), grid, prep };
}

/**
 * The sweep over rows [r0, r1) of a plan: quantizes onto the fixed grid
 * (q = clamp(rint(w / scale) + zp), dequantized float32((q − zp)·scale)) and
 * spreads the error. Rows are independent and each row's operations do not
 * depend on the range it is swept in, so any split of the rows gives the same bytes.
 */
export function sweepGptqRows(job: GptqRowsJob, wp: Float64Array, levels: Int8Array | Uint8Array, r0: number, r1: number): SweepLoss {
  const { cols, perm, scales, zeroPoints, qmin, qmax, groupsPerRow: gpr, colGroup } = job;
  const w = wp.subarray(r0 * cols, r1 * cols);
  return sweep(w, r1 - r0, cols, job.r, job.blockSize, {
    at(r, i, wi) {
      const c = perm[i];
      const k = (r0 + r) * gpr + colGroup[c];
      const s = scales[k];
      const zp = zeroPoints[k];
      let q = roundHalfEven(wi / s) + zp;
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      levels[(r0 + r) * cols + c] = q | 0; // an int store (a float64 store into a typed array takes the slow path)
      return Math.fround((q - zp) * s);
    },
  });
}

/** The result from a swept plan; `losses` are the sweeps' losses in row order (one per row range). */
export function finishGptq(plan: GptqPlan, w: Float32Array | Float64Array, losses: SweepLoss[]): GptqResult {
  const { rows, cols, wp, grid, prep } = plan;
  const { perm } = prep;
  const dequantized = new Float32Array(rows * cols);
  let signal = 0;
  let noise = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) dequantized[o + perm[i]] = wp[o + i];
    for (let c = 0; c < cols; c++) {
      const v = Math.fround(w[o + c]);
      const e = v - dequantized[o + c];
      signal += v * v;
      noise += e * e;
    }
  }
  // The total from the per-row losses in row order: the same bits however the rows were split.
  let total = 0;
  for (const l of losses) for (let r = 0; r < l.row.length; r++) total += l.row[r];
  const columnLoss = new Float64Array(cols);
  for (const l of losses) for (let i = 0; i < cols; i++) columnLoss[perm[i]] += l.column[i];
  // slice(): an ordinary copy, also when the levels sit in shared memory
  const weight: QuantizedWeight = { ...grid.rtn, values: plan.levels.slice(), sqnrDb: sqnrDb(signal, noise) };
  return { weight, dequantized, columnLoss, loss: total, deadColumns: prep.dead, damp: prep.damp };
}
