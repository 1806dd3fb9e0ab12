/**
 * Triangular solves and the blocked inverse of a lower triangular matrix
 * (float64, row-major n×n; only the triangle named is read).
 *
 * invertLower is LAPACK dtrtri's blocked form, by row blocks: with X = L⁻¹,
 * row block I of L·X = I gives X_II = L_II⁻¹ and, for J < I,
 * X_IJ = −X_II · Σ_{J ≤ K < I} L_IK·X_KJ; the sums run on the gemm kernel,
 * each only over the K where X_KJ is not zero (X is lower triangular too).
 */
import { NB } from './cholesky';
import { gemmSub, view } from './gemm';

/** Solves L·x = b for each of the `k` columns of b (n×k row-major, k = 1 for a vector); returns x. */
export function solveLower(l: Float64Array, n: number, b: Float64Array, k = 1): Float64Array {
  const x = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let c = 0; c < k; c++) {
      let s = x[i * k + c];
      for (let p = 0; p < i; p++) s -= l[ri + p] * x[p * k + c];
      x[i * k + c] = s / l[ri + i];
    }
  }
  return x;
}

/** Solves U·x = b for each of the `k` columns of b (n×k row-major); returns x. */
export function solveUpper(u: Float64Array, n: number, b: Float64Array, k = 1): Float64Array {
  const x = Float64Array.from(b);
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * n;
    for (let c = 0; c < k; c++) {
      let s = x[i * k + c];
      for (let p = i + 1; p < n; p++) s -= u[ri + p] * x[p * k + c];
      x[i * k + c] = s / u[ri + i];
    }
  }
  return x;
}

/** L⁻¹ of a lower triangular L with a non-zero diagonal (a new array, zeros above the diagonal). */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  const t = new Float64Array(NB * n);
  const negInv = new Float64Array(NB * NB);
  for (let i0 = 0; i0 < n; i0 += NB) {
    const b = Math.min(NB, n - i0);
    // X_II by forward substitution, stored in place; its negation for the product below.
    for (let j = 0; j < b; j++) {
      x[(i0 + j) * n + i0 + j] = 1 / l[(i0 + j) * n + i0 + j];
      for (let i = j + 1; i < b; i++) {
        const ri = (i0 + i) * n + i0;
        let s = 0;
        for (let p = j; p < i; p++) s -= l[ri + p] * x[(i0 + p) * n + i0 + j];
        x[(i0 + i) * n + i0 + j] = s / l[ri + i];
      }
    }
    if (i0 === 0) continue;
    for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) negInv[i * b + j] = -x[(i0 + i) * n + i0 + j];
    // t = −Σ_K L_IK·X_KJ for each column block J < I (K from J to I).
    t.fill(0, 0, b * i0);
    for (let j0 = 0; j0 < i0; j0 += NB) {
      const bj = Math.min(NB, i0 - j0);
      gemmSub(t, j0, i0, b, bj, i0 - j0, view(l, n, i0, j0), view(x, n, j0, j0));
    }
    // X_I,0:I = 0 − (−X_II)·t = X_II·t = −X_II·Σ L·X, written straight into X.
    gemmSub(x, i0 * n, n, b, i0, b, view(negInv, b), view(t, i0));
  }
  return x;
}
