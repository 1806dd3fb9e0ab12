/**
 * The column sweep GPTQ and SparseGPT share (Frantar et al. 2022, Algorithm 1,
 * "lazy batch" updates; IST-DASLab/gptq gptq.py fasterquant and
 * IST-DASLab/sparsegpt sparsegpt.py fasterprune, the loop over i1):
 *
 *   for each block [i1, i2) of `blockSize` columns:
 *     for each column i of the block:
 *       q = rule(w = W[:, i]);  err = (w − q) / R[i,i];  loss += (w − q)² / R[i,i]² / 2
 *       W[:, i+1:i2] −= err · R[i, i+1:i2]            (see SUB: lazily inside the block too)
 *     W[:, i2:] −= Err · R[i1:i2, i2:]                 (on the gemm kernel)
 *
 * Rows never interact, so a sub-block's columns are walked row by row (one row
 * of W and the block of R stay in cache), and the same inner update is applied
 * lazily once more inside the block (SUB below): W[:, i+1:i2] is updated from the
 * columns of i's sub-block one at a time, and from earlier sub-blocks in one
 * product each. The same sums as the reference, grouped differently (so equal to
 * rounding, not bit for bit); every element's sequence of operations depends only
 * on its column, never on the number of rows, so a row gets the same bits alone or
 * in a batch. W is float64, row-major [rows, cols], in the sweep's column order;
 * it is overwritten with the chosen values.
 */
import { gemmSub, view } from '../../linalg';

export interface SweepRule {
  /** Called once per block before its columns (W holds every update from the earlier blocks). */
  block?(i1: number, i2: number): void;
  /** The value that replaces w = W[r, i] (after the updates from the columns before i). */
  at(r: number, i: number, w: number): number;
}

export interface SweepLoss {
  /** Σ over rows of (w − q)² / R[i,i]² / 2, per column i (sweep order). */
  column: Float64Array;
  /** The same per row. */
  row: Float64Array;
}

/**
 * Columns per sub-block: within a block, the rank-1 updates run in plain loops
 * only inside a sub-block of SUB columns; the rest of the block takes the
 * sub-block's errors in one product on the kernel (the lazy batch applied one
 * level down). Callers whose rule reads ahead (n:m reads a group of m columns at
 * its first) pass a sub-block size that the group size divides.
 */
export const SUB = 32;

export function sweep(
  w: Float64Array, rows: number, cols: number, r: Float64Array, blockSize: number, rule: SweepRule, sub = SUB,
): SweepLoss {
  const column = new Float64Array(cols);
  const row = new Float64Array(rows);
  const err = new Float64Array(rows * Math.min(blockSize, cols));
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    rule.block?.(i1, i2);
    for (let s1 = i1; s1 < i2; s1 += sub) {
      const s2 = Math.min(s1 + sub, i2);
      for (let rr = 0; rr < rows; rr++) {
        const ro = rr * cols;
        const eo = rr * count - i1;
        let rowLoss = 0;
        for (let i = s1; i < s2; i++) {
          const wi = w[ro + i];
          const ri = i * cols;
          const d = r[ri + i];
          const q = rule.at(rr, i, wi);
          w[ro + i] = q;
          const diff = wi - q;
          const l = (diff * diff) / (d * d) / 2;
          column[i] += l;
          rowLoss += l;
          const e = diff / d;
          err[eo + i] = e;
          for (let j = i + 1; j < s2; j++) w[ro + j] -= e * r[ri + j];
        }
        row[rr] += rowLoss;
      }
      // W[:, s2:i2] −= Err[:, s1:s2] · R[s1:s2, s2:i2]
      if (s2 < i2) gemmSub(w, s2, cols, rows, i2 - s2, s2 - s1, view(err, count, 0, s1 - i1), view(r, cols, s1, s2));
    }
    if (i2 < cols) gemmSub(w, i2, cols, rows, cols - i2, count, view(err, count), view(r, cols, i1, i2));
  }
  return { column, row };
}
