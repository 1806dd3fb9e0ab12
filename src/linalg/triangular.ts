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
  for (let i = 0; i < n; i++) x.set(l.subarray(i * n, i * n + i + 1), i * n);
  invertLowerInPlace(x, n);
  return x;
}

/**
 * Overwrites the lower triangular L (n×n, row-major) with L⁻¹ and zeroes the
 * strict upper triangle. Row block I of X needs only L's row block I and the rows
 * of X above it, so each row block is replaced as soon as it is computed.
 */
export function invertLowerInPlace(a: Float64Array, n: number): void {
  const t = new Float64Array(NB * n);
  const xi = new Float64Array(NB * n);
  const xii = new Float64Array(NB * NB);
  const negXii = new Float64Array(NB * NB);
  for (let i0 = 0; i0 < n; i0 += NB) {
    const b = Math.min(NB, n - i0);
    // X_II = L_II⁻¹ by forward substitution, column by column.
    xii.fill(0);
    for (let j = 0; j < b; j++) {
      xii[j * b + j] = 1 / a[(i0 + j) * n + i0 + j];
      for (let i = j + 1; i < b; i++) {
        const ri = (i0 + i) * n + i0;
        let s = 0;
        for (let p = j; p < i; p++) s -= a[ri + p] * xii[p * b + j];
        xii[i * b + j] = s / a[ri + i];
      }
    }
    if (i0 > 0) {
      for (let i = 0; i < b * b; i++) negXii[i] = -xii[i];
      // t = −Σ_K L_IK·X_KJ for each column block J < I (K from J to I; rows K of `a` already hold X).
      t.fill(0, 0, b * i0);
      for (let j0 = 0; j0 < i0; j0 += NB) {
        const bj = Math.min(NB, i0 - j0);
        gemmSub(t, j0, i0, b, bj, i0 - j0, view(a, n, i0, j0), view(a, n, j0, j0));
      }
      // X_I,0:I = 0 − (−X_II)·t = X_II·t = −X_II·Σ L·X
      xi.fill(0, 0, b * i0);
      gemmSub(xi, 0, i0, b, i0, b, view(negXii, b), view(t, i0));
    }
    for (let i = 0; i < b; i++) {
      const row = (i0 + i) * n;
      a.set(xi.subarray(i * i0, i * i0 + i0), row);
      a.set(xii.subarray(i * b, i * b + b), row + i0);
      a.fill(0, row + i0 + b, row + n);
    }
  }
}
