/**
 * Inverses of a symmetric positive-definite float64 matrix through its
 * Cholesky factor, and the factor GPTQ and SparseGPT use.
 *
 * GPTQ (Frantar et al. 2022, IST-DASLab/gptq gptq.py, fasterquant) takes the
 * upper Cholesky factor R of H⁻¹ (H⁻¹ = Rᵀ·R) in three steps:
 *   cholesky(cholesky_inverse(cholesky(H)), upper=True).
 * `upperCholeskyOfInverse` gets the same R in two, with half the flops: with J
 * the reversal permutation and J·H·J = M·Mᵀ (M lower),
 *   H⁻¹ = J·M⁻ᵀ·M⁻¹·J = (J·M⁻¹·J)ᵀ·(J·M⁻¹·J),
 * and J·M⁻¹·J is upper triangular with a positive diagonal, so by uniqueness of
 * the Cholesky factor it is R. (Cost: one factorisation and one triangular
 * inverse, 2n³/3 flops, against 4n³/3.) `upperCholeskyOfInverseLiteral` is the
 * three-step form, kept for the tests that check the two agree.
 */
import { choleskyInPlace, choleskyLower, choleskyUpper, NotPositiveDefiniteError } from './cholesky';
import { gemmSub, transposed, view } from './gemm';
import { invertLower, invertLowerInPlace } from './triangular';

/** A⁻¹ from A's lower Cholesky factor L: L⁻ᵀ·L⁻¹ (torch.cholesky_inverse(L)). */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const x = invertLower(l, n);
  const negX = x.map((v) => -v);
  const out = new Float64Array(n * n);
  // out = 0 − (−Xᵀ)·X; X lower triangular, so row i of Xᵀ is zero before column i: the depth starts at max(i0, j0).
  for (let i0 = 0; i0 < n; i0 += 64) {
    const bi = Math.min(64, n - i0);
    gemmSub(out, i0 * n + i0, n, bi, n - i0, n - i0, transposed(view(negX, n, i0, i0)), view(x, n, i0, i0));
    for (let i = i0; i < i0 + bi; i++) for (let j = 0; j < i0; j++) out[i * n + j] = out[j * n + i];
  }
  return out;
}

/** A⁻¹ of a symmetric positive-definite A; throws NotPositiveDefiniteError. */
export function inverseSpd(a: Float64Array, n: number, what?: string): Float64Array {
  return choleskyInverse(choleskyLower(a, n, what), n);
}

/**
 * Upper triangular R with A⁻¹ = Rᵀ·R (see the file comment); throws
 * NotPositiveDefiniteError naming the pivot of A. In row-major order J·A·J is the
 * array reversed (element i·n + j goes to n² − 1 − (i·n + j)), so R is
 * reverse(invert(cholesky(reverse(A)))), all in one n×n array. With `inPlace`,
 * that array is `a` itself (its contents are lost); else a copy.
 */
export function upperCholeskyOfInverse(a: Float64Array, n: number, what?: string, inPlace = false): Float64Array {
  const m = inPlace ? a : a.slice();
  m.reverse();
  try {
    choleskyInPlace(m, n, what);
  } catch (e) {
    // Name the pivot in A's own order: row i of J·A·J is row n − 1 − i of A.
    if (e instanceof NotPositiveDefiniteError) throw new NotPositiveDefiniteError(n - 1 - e.pivot, e.value, what);
    throw e;
  }
  invertLowerInPlace(m, n); // reads only the lower triangle, zeroes the upper
  return m.reverse();
}

/** The three-step form of GPTQ's reference: cholesky(cholesky_inverse(cholesky(A)), upper). */
export function upperCholeskyOfInverseLiteral(a: Float64Array, n: number, what?: string): Float64Array {
  return choleskyUpper(choleskyInverse(choleskyLower(a, n, what), n), n, what);
}
