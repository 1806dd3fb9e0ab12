/** Seeded test data: weights and correlated layer inputs (AR(1) across input channels, uneven channel scales). */
import { mulberry32 } from '../../src/util/prng';

export function gaussian(seed: number): () => number {
  const u = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** [rows, cols] float32 weights, N(0, σ²). */
export function weights(rows: number, cols: number, seed: number, sigma = 0.05): Float32Array {
  const g = gaussian(seed);
  return Float32Array.from({ length: rows * cols }, () => sigma * g());
}

/** [n, cols] inputs: x_j = ρ·x_{j−1} + s_j·z_j, with s_j between 0.2 and 2 (fixed by `seed`), rows independent. */
export function correlatedInputs(n: number, cols: number, seed: number, rho = 0.9): Float32Array {
  const scales = gaussian(seed ^ 0x5bd1e995);
  const s = Float64Array.from({ length: cols }, () => 0.2 + 1.8 * Math.abs(Math.tanh(scales())));
  const g = gaussian(seed);
  const x = new Float32Array(n * cols);
  for (let r = 0; r < n; r++) {
    let prev = 0;
    for (let j = 0; j < cols; j++) {
      prev = rho * prev + s[j] * g();
      x[r * cols + j] = prev;
    }
  }
  return x;
}

/** 2·XᵀX/N in float64 by plain loops. */
export function plainHessian(x: Float32Array, n: number, cols: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < cols; i++) {
      const xi = x[r * cols + i];
      for (let j = 0; j < cols; j++) h[i * cols + j] += xi * x[r * cols + j];
    }
  }
  for (let i = 0; i < h.length; i++) h[i] *= 2 / n;
  return h;
}

export const toMat = (a: ArrayLike<number>, rows: number, cols: number): number[][] =>
  Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => a[r * cols + c]));

/** ‖(W − Ŵ)X‖² = Σ over samples and outputs, W [rows, cols], X [n, cols]. */
export function outputError(w: ArrayLike<number>, wq: ArrayLike<number>, rows: number, cols: number, x: Float32Array, n: number): number {
  let total = 0;
  const d = Float64Array.from({ length: rows * cols }, (_, i) => w[i] - wq[i]);
  for (let s = 0; s < n; s++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += d[r * cols + c] * x[s * cols + c];
      total += acc * acc;
    }
  }
  return total;
}
