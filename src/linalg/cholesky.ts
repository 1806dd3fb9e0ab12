/**
 * Cholesky factorisation of a symmetric positive-definite float64 matrix,
 * row-major n×n: A = L·Lᵀ with L lower triangular, positive diagonal
 * (Golub & Van Loan, Matrix Computations, 4th ed., §4.2; the blocked
 * right-looking form of LAPACK dpotrf).
 *
 * Per block column of NB: the diagonal block is factored with the scalar
 * algorithm, the panel below it is L21 = A21·L11⁻ᵀ (a product with the small
 * triangular inverse, on the gemm kernel), and the trailing lower triangle takes
 * A22 −= L21·L21ᵀ on the gemm kernel. Only the lower triangle of the input is read.
 */
import { McError } from '../errors';
import { gemmSub, transposed, view } from './gemm';

/**
 * The matrix is not positive definite (or holds NaN/Inf): the pivot at `pivot`
 * (0-based row) came out as `value` ≤ 0 or not finite. Callers catch it to fall
 * back (GPTQ to round-to-nearest for that layer).
 */
export class NotPositiveDefiniteError extends McError {
  override readonly exitCode = 2;
  constructor(readonly pivot: number, readonly value: number, what = 'matrix') {
    super(`${what} is not positive definite: Cholesky pivot ${pivot} is ${value}`);
  }
}

/** Block size of the blocked algorithms (a multiple of 4, the kernel's tile). */
export const NB = 256;

/** Lower Cholesky factor L (a new array, zeros above the diagonal); throws NotPositiveDefiniteError. */
export function choleskyLower(a: Float64Array, n: number, what?: string): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) l.set(a.subarray(i * n, i * n + i + 1), i * n);
  choleskyInPlace(l, n, what);
  for (let i = 0; i < n; i++) l.fill(0, i * n + i + 1, i * n + n);
  return l;
}

/** Upper Cholesky factor U = Lᵀ, so A = Uᵀ·U (torch.linalg.cholesky(A, upper=True)). */
export function choleskyUpper(a: Float64Array, n: number, what?: string): Float64Array {
  return transpose(choleskyLower(a, n, what), n);
}

/**
 * Overwrites the lower triangle of `a` (n×n row-major) with L. The strict upper
 * triangle is scratch: the trailing updates write into the part of it that lies
 * in the diagonal blocks.
 */
export function choleskyInPlace(a: Float64Array, n: number, what?: string): void {
  const panel = new Float64Array(n * NB);
  const inv = new Float64Array(NB * NB);
  for (let k0 = 0; k0 < n; k0 += NB) {
    const b = Math.min(NB, n - k0);
    factorDiagonalBlock(a, n, k0, b, what);
    const below = n - k0 - b;
    if (below === 0) break;
    // L21 = A21 · L11⁻ᵀ: panel = 0 − A21·(−L11⁻ᵀ) on the kernel, then copied into place.
    invertLowerSmall(a, n, k0, b, inv);
    for (let i = 0; i < b * b; i++) inv[i] = -inv[i];
    panel.fill(0, 0, below * b);
    gemmSub(panel, 0, b, below, b, b, view(a, n, k0 + b, k0), transposed(view(inv, b)));
    for (let i = 0; i < below; i++) a.set(panel.subarray(i * b, i * b + b), (k0 + b + i) * n + k0);
    // A22 −= L21·L21ᵀ, lower triangle only: row block [r0, r1) takes columns [k0 + b, r1).
    for (let r0 = k0 + b; r0 < n; r0 += NB) {
      const r1 = Math.min(n, r0 + NB);
      gemmSub(a, r0 * n + k0 + b, n, r1 - r0, r1 - k0 - b, b, view(a, n, r0, k0), transposed(view(a, n, k0 + b, k0)));
    }
  }
}

/** Scalar Cholesky of the b×b diagonal block at (k0, k0), whose trailing updates are already applied. */
function factorDiagonalBlock(a: Float64Array, n: number, k0: number, b: number, what?: string): void {
  for (let j = k0; j < k0 + b; j++) {
    const rj = j * n;
    let d = a[rj + j];
    for (let p = k0; p < j; p++) d -= a[rj + p] * a[rj + p];
    if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefiniteError(j, d, what);
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    for (let i = j + 1; i < k0 + b; i++) {
      const ri = i * n;
      let s = a[ri + j];
      for (let p = k0; p < j; p++) s -= a[ri + p] * a[rj + p];
      a[ri + j] = s / ljj;
    }
  }
}

/** inv (b×b row-major) = inverse of the lower triangular b×b block of `a` at (k0, k0), by forward substitution. */
function invertLowerSmall(a: Float64Array, n: number, k0: number, b: number, inv: Float64Array): void {
  inv.fill(0, 0, b * b);
  for (let j = 0; j < b; j++) {
    // column j of the inverse: solve L x = e_j
    inv[j * b + j] = 1 / a[(k0 + j) * n + k0 + j];
    for (let i = j + 1; i < b; i++) {
      const ri = (k0 + i) * n + k0;
      let s = 0;
      for (let p = j; p < i; p++) s -= a[ri + p] * inv[p * b + j];
      inv[i * b + j] = s / a[ri + i];
    }
  }
}

/** A new n×n array holding the transpose. */
export function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}
