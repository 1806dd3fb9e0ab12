/**
 * The column sweep GPTQ and SparseGPT share (Frantar et al. 2022, Algorithm 1,
 * "lazy batch" updates; IST-DASLab/gptq gptq.py fasterquant and
 * IST-DASLab/sparsegpt sparsegpt.py fasterprune, the loop over i1):
 *
 *   for each block [i1, i2) of `blockSize` columns:
 *     for each column i of the block:
 *       q = rule(w = W[:, i]);  err = (w − q) / R[i,i];  loss += (w − q)² / R[i,i]² / 2
 *       W[:, i+1:i2] −= err · R[i, i+1:i2]
 *     W[:, i2:] −= Err · R[i1:i2, i2:]                 (on the gemm kernel)
 *
 * Rows never interact, so the block's columns are walked row by row (one row of
 * W and the block of R stay in cache); each element of W sees the same updates
 * in the same order as in the reference's column order, so the result is the
 * same, bit for bit. W is float64, row-major [rows, cols], in the sweep's column
 * order; it is overwritten with the chosen values.
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

export function sweep(w: Float64Array, rows: number, cols: number, r: Float64Array, blockSize: number, rule: SweepRule): SweepLoss {
  const column = new Float64Array(cols);
  const row = new Float64Array(rows);
  const err = new Float64Array(rows * Math.min(blockSize, cols));
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    rule.block?.(i1, i2);
    for (let rr = 0; rr < rows; rr++) {
      const ro = rr * cols;
      const eo = rr * count - i1;
      let rowLoss = 0;
      for (let i = i1; i < i2; i++) {
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
        for (let j = i + 1; j < i2; j++) w[ro + j] -= e * r[ri + j];
      }
      row[rr] += rowLoss;
    }
    if (i2 < cols) gemmSub(w, i2, cols, rows, cols - i2, count, view(err, count), view(r, cols, i1, i2));
  }
  return { column, row };
}
