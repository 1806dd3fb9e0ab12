/**
 * linalg against known answers: a Cholesky factor known exactly, L·Lᵀ = H for
 * H = AᵀA + λI to 1e-12 relative, inverses that give the identity, GPTQ's
 * three-step factor of H⁻¹ against the two-step one, and a non-positive-definite
 * matrix that must throw naming its pivot. The wasm kernel against the scalar
 * loop: the same bits.
 */
import {
  choleskyInverse, choleskyLower, choleskyUpper, gemmSub, inverseSpd, invertLower, kernelKind,
  NotPositiveDefiniteError, solveLower, solveUpper, transposed, upperCholeskyOfInverse,
  upperCholeskyOfInverseLiteral, useScalarKernel, view,
} from '../../src/linalg';
import { mulberry32 } from '../../src/util/prng';

function random(n: number, seed: number): Float64Array {
  const u = mulberry32(seed);
  return Float64Array.from({ length: n }, () => u() - 0.5);
}

/** H = AᵀA + λI (A m×n) by plain loops. */
function spd(n: number, m: number, lambda: number, seed: number): Float64Array {
  const a = random(m * n, seed);
  const h = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += a[k * n + i] * a[k * n + j];
    h[i * n + j] = s + (i === j ? lambda : 0);
  }
  return h;
}

function matmul(a: Float64Array, b: Float64Array, n: number, ta = false, tb = false): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += (ta ? a[k * n + i] : a[i * n + k]) * (tb ? b[j * n + k] : b[k * n + j]);
    out[i * n + j] = s;
  }
  return out;
}

const maxAbs = (a: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m; };
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
const identity = (n: number): Float64Array => { const e = new Float64Array(n * n); for (let i = 0; i < n; i++) e[i * n + i] = 1; return e; };

afterEach(() => useScalarKernel(false));

describe('Cholesky', () => {
  test('a factor known exactly', () => {
    const h = Float64Array.of(4, 12, -16, 12, 37, -43, -16, -43, 98);
    expect(Array.from(choleskyLower(h, 3))).toEqual([2, 0, 0, 6, 1, 0, -8, 5, 3]);
    expect(Array.from(choleskyUpper(h, 3))).toEqual([2, 6, -8, 0, 1, 5, 0, 0, 3]);
  });

  test.each([[7], [64], [150], [203]])('L·Lᵀ = H and Uᵀ·U = H for H = AᵀA + λI, n = %i (1e-12 relative)', (n) => {
    const h = spd(n, n + 10, 0.1, n);
    const l = choleskyLower(h, n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(l[i * n + j]).toBe(0);
    expect(maxDiff(matmul(l, l, n, false, true), h) / maxAbs(h)).toBeLessThan(1e-12);
    const u = choleskyUpper(h, n);
    expect(maxDiff(matmul(u, u, n, true, false), h) / maxAbs(h)).toBeLessThan(1e-12);
  });

  test('a matrix that is not positive definite throws, naming the pivot', () => {
    const h = Float64Array.of(4, 12, -16, 12, 37, -43, -16, -43, 89); // last pivot: 89 − 64 − 25 = 0
    expect(() => choleskyLower(h, 3)).toThrow(NotPositiveDefiniteError);
    try { choleskyLower(h, 3, 'H'); } catch (e) {
      expect((e as NotPositiveDefiniteError).pivot).toBe(2);
      expect((e as Error).message).toBe('H is not positive definite: Cholesky pivot 2 is 0');
    }
    // rank-deficient Gram matrix (100 columns from 40 samples) in the blocked part
    const g = spd(100, 40, 0, 3);
    let pivot = -1;
    try { choleskyLower(g, 100); } catch (e) { pivot = (e as NotPositiveDefiniteError).pivot; }
    expect(pivot).toBeGreaterThanOrEqual(40);
    const bad = spd(70, 80, 0.1, 4);
    bad[65 * 70 + 65] = NaN;
    expect(() => choleskyLower(bad, 70)).toThrow(/pivot 65 is NaN/);
  });
});

describe('inverses and solves', () => {
  const n = 150;
  const h = spd(n, n + 10, 0.5, 9);

  test('invertLower: L·L⁻¹ = I; solves agree with it', () => {
    const l = choleskyLower(h, n);
    const x = invertLower(l, n);
    expect(maxDiff(matmul(l, x, n), identity(n))).toBeLessThan(1e-12);
    const b = random(n * 3, 5);
    const y = solveLower(l, n, b, 3);
    const u = choleskyUpper(h, n);
    const z = solveUpper(u, n, b, 3);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) {
      let s = 0;
      let t = 0;
      for (let k = 0; k < n; k++) { s += l[i * n + k] * y[k * 3 + c]; t += u[i * n + k] * z[k * 3 + c]; }
      expect(Math.abs(s - b[i * 3 + c])).toBeLessThan(1e-12);
      expect(Math.abs(t - b[i * 3 + c])).toBeLessThan(1e-12);
    }
  });

  test('H·H⁻¹ = I (choleskyInverse, inverseSpd); H⁻¹ symmetric', () => {
    const inv = inverseSpd(h, n);
    expect(maxDiff(matmul(h, inv, n), identity(n))).toBeLessThan(1e-10);
    expect(maxDiff(inv, choleskyInverse(choleskyLower(h, n), n))).toBe(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(inv[i * n + j]).toBe(inv[j * n + i]);
  });

  test("GPTQ's factor: upperCholeskyOfInverse equals the three-step literal form, and Rᵀ·R·H = I", () => {
    const r = upperCholeskyOfInverse(h, n);
    const lit = upperCholeskyOfInverseLiteral(h, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(r[i * n + j]).toBe(0);
    expect(maxDiff(r, lit) / maxAbs(lit)).toBeLessThan(1e-12);
    expect(maxDiff(matmul(matmul(r, r, n, true, false), h, n), identity(n))).toBeLessThan(1e-10);
  });

  test('upperCholeskyOfInverse names the pivot in the input order', () => {
    const g = identity(4);
    g[1] = g[4] = 2; // rows 0 and 1 indefinite
    let pivot = -1;
    try { upperCholeskyOfInverse(g, 4); } catch (e) { pivot = (e as NotPositiveDefiniteError).pivot; }
    expect(pivot).toBe(0); // the reversed order eliminates rows 3, 2, 1, 0 and fails at the last, row 0 of g
  });
});

describe('gemm kernel', () => {
  test(`the ${kernelKind()} kernel gives the scalar loop's bits; both match a plain product (k > one panel, transposed operands)`, () => {
    const [m, n, k] = [37, 301, 300];
    const a = random(k * m, 1); // read transposed: A = aᵀ
    const b = random(k * n, 2);
    const c0 = random(m * n, 3);
    const fast = c0.slice();
    gemmSub(fast, 0, n, m, n, k, transposed(view(a, m)), view(b, n));
    useScalarKernel(true);
    expect(kernelKind()).toBe('scalar');
    const slow = c0.slice();
    gemmSub(slow, 0, n, m, n, k, transposed(view(a, m)), view(b, n));
    expect(maxDiff(fast, slow)).toBe(0);
    let err = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[p * m + i] * b[p * n + j];
      err = Math.max(err, Math.abs(c0[i * n + j] - s - fast[i * n + j]));
    }
    expect(err).toBeLessThan(1e-12);
  });

  test('a row updated alone gets the same bits as in a batch of rows (the basis of row-parallel determinism)', () => {
    const [m, n, k] = [20, 45, 130];
    const a = random(m * k, 4);
    const b = random(k * n, 5);
    const all = random(m * n, 6);
    const one = all.slice();
    gemmSub(all, 0, n, m, n, k, view(a, k), view(b, n));
    for (let i = 0; i < m; i++) gemmSub(one, i * n, n, 1, n, k, view(a, k, i), view(b, n));
    expect(maxDiff(all, one)).toBe(0);
  });
});
