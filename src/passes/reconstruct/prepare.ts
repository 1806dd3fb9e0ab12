/**
 * What GPTQ and SparseGPT do to H before the sweep, in the order of the
 * reference (IST-DASLab/gptq gptq.py fasterquant; IST-DASLab/sparsegpt
 * sparsegpt.py fasterprune):
 *  1. dead inputs: H[i,i] == 0 → H[i,i] = 1, and the caller zeroes W[:, i];
 *  2. act-order (GPTQ only): columns permuted by descending diag H
 *     (a stable order: equal diagonals keep their column order, where
 *     torch.argsort leaves ties unspecified);
 *  3. dampening: H += percdamp · mean(diag H) · I;
 *  4. R, the upper Cholesky factor of H⁻¹ (linalg/inverse.ts).
 */
import { NotPositiveDefiniteError, upperCholeskyOfInverse } from '../../linalg';

export interface PrepareOptions {
  percdamp: number;
  actOrder: boolean;
  /** Names the layer in errors. */
  name: string;
  /** Storage of the n×n working matrix that becomes R (shared memory for threads); default a Float64Array. */
  alloc?: (n: number) => Float64Array;
}

export interface PreparedHessian {
  n: number;
  /** Upper triangular n×n, in the permuted column order. */
  r: Float64Array;
  /** perm[i] = original column at position i (identity without act-order). */
  perm: Int32Array;
  /** Original columns whose H[i,i] was 0. */
  dead: number[];
  /** The absolute dampening added to the diagonal. */
  damp: number;
}

/** Prepares H (n×n, row-major, symmetric; not modified). Throws NotPositiveDefiniteError naming the original column. */
export function prepareHessian(h: Float64Array, n: number, opts: PrepareOptions): PreparedHessian {
  if (h.length !== n * n) throw new RangeError(`H of '${opts.name}' has ${h.length} elements, expected ${n}×${n}`);
  const diag = new Float64Array(n);
  const dead: number[] = [];
  for (let i = 0; i < n; i++) {
    diag[i] = h[i * n + i];
    if (diag[i] === 0) {
      dead.push(i);
      diag[i] = 1;
    }
  }
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  if (opts.actOrder) perm.sort((a, b) => diag[b] - diag[a] || a - b);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += diag[perm[i]];
  const damp = opts.percdamp * (sum / n);
  const hp = opts.alloc ? opts.alloc(n * n) : new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = perm[i] * n;
    const dst = i * n;
    for (let j = 0; j < n; j++) hp[dst + j] = h[src + perm[j]];
    hp[dst + i] = diag[perm[i]] + damp;
  }
  try {
    return { n, r: upperCholeskyOfInverse(hp, n, `H of '${opts.name}'`, true), perm, dead, damp };
  } catch (e) {
    if (e instanceof NotPositiveDefiniteError) throw new NotPositiveDefiniteError(perm[e.pivot], e.value, `H of '${opts.name}' (after dampening by ${damp})`);
    throw e;
  }
}
