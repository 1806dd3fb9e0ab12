/**
 * Literal float64 transcriptions, in plain loops, of the reference algorithms:
 *  - IST-DASLab/gptq gptq.py `GPTQ.add_batch` and `GPTQ.fasterquant`
 *    (static_groups=True), with quant.py's `quantize`;
 *  - IST-DASLab/sparsegpt sparsegpt.py `SparseGPT.fasterprune`.
 * Matrices are number[][] (W[row][col]); torch ops become loops, each in the
 * reference's order. Nothing here comes from src/: the Cholesky, the inverse,
 * the matmul and the grid (params.ts rules: symmetric scale = max|w|/qmax,
 * asymmetric range widened to 0, round half to even, dequantized in float32)
 * are written out again.
 */
export type Mat = number[][];

export const zeros = (r: number, c: number): Mat => Array.from({ length: r }, () => new Array<number>(c).fill(0));
const clone = (m: Mat): Mat => m.map((row) => row.slice());

/** torch.linalg.cholesky (lower). Throws on a non-positive pivot. */
export function cholesky(a: Mat): Mat {
  const n = a.length;
  const l = zeros(n, n);
  for (let j = 0; j < n; j++) {
    let d = a[j][j];
    for (let p = 0; p < j; p++) d -= l[j][p] * l[j][p];
    if (!(d > 0)) throw new Error(`not positive definite at ${j}`);
    l[j][j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let s = a[i][j];
      for (let p = 0; p < j; p++) s -= l[i][p] * l[j][p];
      l[i][j] = s / l[j][j];
    }
  }
  return l;
}

/** torch.cholesky_inverse(L) = (L·Lᵀ)⁻¹, through X = L⁻¹: Xᵀ·X. */
export function choleskyInverse(l: Mat): Mat {
  const n = l.length;
  const x = zeros(n, n);
  for (let j = 0; j < n; j++) {
    for (let i = j; i < n; i++) {
      let s = i === j ? 1 : 0;
      for (let p = j; p < i; p++) s -= l[i][p] * x[p][j];
      x[i][j] = s / l[i][i];
    }
  }
  const out = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < n; p++) s += x[p][i] * x[p][j];
    out[i][j] = s;
  }
  return out;
}

/** torch.linalg.cholesky(A, upper=True) = Lᵀ. */
export function choleskyUpper(a: Mat): Mat {
  const l = cholesky(a);
  return l.map((_, i) => l.map((row) => row[i]));
}

const rint = (x: number): number => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export interface RefGrid {
  scale: Mat; // [rows][groups]
  zero: Mat;
  qmin: number;
  qmax: number;
  /** The group of column c within its row. */
  groupOf(c: number): number;
}

/**
 * Round 1's grid (params.ts rules), per group of `groupCols` input channels of
 * each row; with `inner` > 1 (a Conv's kh·kw) a group is one spatial position of
 * `groupCols` channels, columns `inner` apart.
 */
export function refGrid(w: Mat, bits: 4 | 8, sym: boolean, groupCols: number, inner = 1): RefGrid {
  const qmax = sym ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const qmin = sym ? -qmax : 0;
  const cols = w[0].length;
  const channels = cols / inner;
  const groupOf = (c: number): number => Math.floor(Math.floor(c / inner) / groupCols) * inner + (c % inner);
  const groups = Math.ceil(channels / groupCols) * inner;
  const scale = zeros(w.length, groups);
  const zero = zeros(w.length, groups);
  w.forEach((row, r) => {
    for (let g = 0; g < groups; g++) {
      const vals = row.filter((_, c) => groupOf(c) === g).map((v) => Math.fround(v));
      let s: number;
      let z = 0;
      if (sym) {
        s = Math.fround(Math.max(...vals.map(Math.abs)) / qmax);
      } else {
        const lo = Math.min(0, ...vals);
        const hi = Math.max(0, ...vals);
        s = Math.fround((hi - lo) / (qmax - qmin));
        if (s > 0) z = Math.min(qmax, Math.max(qmin, rint(qmin - lo / s)));
      }
      scale[r][g] = s > 0 ? s : 1;
      zero[r][g] = z;
    }
  });
  return { scale, zero, qmin, qmax, groupOf };
}

/** quant.py quantize() on mc's grid: the level and float32((q − zero)·scale). */
function quantize(x: number, scale: number, zero: number, g: RefGrid): [number, number] {
  const q = Math.min(g.qmax, Math.max(g.qmin, rint(x / scale) + zero));
  return [q, Math.fround(scale * (q - zero))];
}

/** GPTQ.add_batch over batches of rows (each row a sample). */
export function refHessian(batches: Mat[]): Mat {
  const cols = batches[0][0].length;
  let h = zeros(cols, cols);
  let nsamples = 0;
  for (const inp of batches) {
    const tmp = inp.length;
    h = h.map((row) => row.map((v) => v * (nsamples / (nsamples + tmp))));
    nsamples += tmp;
    const x = inp.map((row) => row.map((v) => Math.sqrt(2 / nsamples) * v));
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < x.length; k++) s += x[k][i] * x[k][j];
      h[i][j] += s;
    }
  }
  return h;
}

export interface RefGptqResult {
  Q: Mat;
  levels: Mat;
  losses: number;
}

/** GPTQ.fasterquant(blocksize, percdamp, groupsize, actorder, static_groups=True). */
export function refFasterquant(
  w0: Mat, h0: Mat, grid: RefGrid, opts: { blocksize: number; percdamp: number; actorder: boolean },
): RefGptqResult {
  let W = clone(w0);
  let H = clone(h0);
  const rows = W.length;
  const columns = W[0].length;
  const dead = H.map((row, i) => row[i] === 0);
  for (let i = 0; i < columns; i++) if (dead[i]) { H[i][i] = 1; for (const row of W) row[i] = 0; }
  let perm = Array.from({ length: columns }, (_, i) => i);
  if (opts.actorder) {
    perm = perm.sort((a, b) => H[b][b] - H[a][a] || a - b);
    W = W.map((row) => perm.map((p) => row[p]));
    H = perm.map((p) => perm.map((q) => H[p][q]));
  }
  const Losses = zeros(rows, columns);
  const Q = zeros(rows, columns);
  const levels = zeros(rows, columns);
  let mean = 0;
  for (let i = 0; i < columns; i++) mean += H[i][i];
  const damp = opts.percdamp * (mean / columns);
  for (let i = 0; i < columns; i++) H[i][i] += damp;
  const Hinv = choleskyUpper(choleskyInverse(cholesky(H)));
  for (let i1 = 0; i1 < columns; i1 += opts.blocksize) {
    const i2 = Math.min(i1 + opts.blocksize, columns);
    const count = i2 - i1;
    const W1 = W.map((row) => row.slice(i1, i2));
    const Q1 = zeros(rows, count);
    const Err1 = zeros(rows, count);
    const Losses1 = zeros(rows, count);
    for (let i = 0; i < count; i++) {
      const d = Hinv[i1 + i][i1 + i];
      let idx = i1 + i;
      if (opts.actorder) idx = perm[idx];
      const g = grid.groupOf(idx);
      for (let r = 0; r < rows; r++) {
        const w = W1[r][i];
        const [lv, q] = quantize(w, grid.scale[r][g], grid.zero[r][g], grid);
        Q1[r][i] = q;
        levels[r][i1 + i] = lv;
        Losses1[r][i] = (w - q) ** 2 / d ** 2;
        const err1 = (w - q) / d;
        for (let j = i; j < count; j++) W1[r][j] -= err1 * Hinv[i1 + i][i1 + j];
        Err1[r][i] = err1;
      }
    }
    for (let r = 0; r < rows; r++) for (let i = 0; i < count; i++) {
      Q[r][i1 + i] = Q1[r][i];
      Losses[r][i1 + i] = Losses1[r][i] / 2;
    }
    // W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    for (let r = 0; r < rows; r++) for (let j = i2; j < columns; j++) {
      let s = 0;
      for (let k = 0; k < count; k++) s += Err1[r][k] * Hinv[i1 + k][j];
      W[r][j] -= s;
    }
  }
  let losses = 0;
  for (const row of Losses) for (const v of row) losses += v;
  const invperm = perm.map((_, i) => perm.indexOf(i));
  return {
    Q: Q.map((row) => invperm.map((p) => row[p])),
    levels: levels.map((row) => invperm.map((p) => row[p])),
    losses,
  };
}

export interface RefSparseResult {
  W: Mat;
  mask: Mat;
  levels?: Mat;
  losses: number;
}

/** SparseGPT.fasterprune(sparsity, prunen, prunem, blocksize, percdamp), with an optional quantizer. */
export function refFasterprune(
  w0: Mat, h0: Mat, opts: { sparsity: number; prunen: number; prunem: number; blocksize: number; percdamp: number; grid?: RefGrid },
): RefSparseResult {
  const W = clone(w0);
  const H = clone(h0);
  const rows = W.length;
  const columns = W[0].length;
  for (let i = 0; i < columns; i++) if (H[i][i] === 0) { H[i][i] = 1; for (const row of W) row[i] = 0; }
  const Losses = new Array<number>(rows).fill(0);
  let mean = 0;
  for (let i = 0; i < columns; i++) mean += H[i][i];
  const damp = opts.percdamp * (mean / columns);
  for (let i = 0; i < columns; i++) H[i][i] += damp;
  const Hinv = choleskyUpper(choleskyInverse(cholesky(H)));
  const mask = zeros(rows, columns);
  const levels = opts.grid ? zeros(rows, columns) : undefined;
  for (let i1 = 0; i1 < columns; i1 += opts.blocksize) {
    const i2 = Math.min(i1 + opts.blocksize, columns);
    const count = i2 - i1;
    const W1 = W.map((row) => row.slice(i1, i2));
    const Q1 = zeros(rows, count);
    const Err1 = zeros(rows, count);
    const Losses1 = zeros(rows, count);
    const dg = (i: number): number => Hinv[i1 + i][i1 + i];
    let mask1 = zeros(rows, count);
    if (opts.prunen === 0) {
      const tmp = W1.map((row) => row.map((v, i) => v ** 2 / dg(i) ** 2));
      const flat = tmp.flat().sort((a, b) => a - b);
      const thresh = flat[Math.floor(flat.length * opts.sparsity)];
      mask1 = tmp.map((row) => row.map((v) => (v <= thresh ? 1 : 0)));
    }
    for (let i = 0; i < count; i++) {
      const d = dg(i);
      if (opts.prunen !== 0 && i % opts.prunem === 0) {
        for (let r = 0; r < rows; r++) {
          const idx = Array.from({ length: opts.prunem }, (_, j) => j);
          const s = idx.map((j) => W1[r][i + j] ** 2 / dg(i + j) ** 2);
          idx.sort((a, b) => s[a] - s[b] || a - b);
          for (let t = 0; t < opts.prunen; t++) mask1[r][i + idx[t]] = 1;
        }
      }
      for (let r = 0; r < rows; r++) {
        const w = W1[r][i];
        let q = mask1[r][i] ? 0 : w;
        if (opts.grid && levels) {
          const g = opts.grid.groupOf(i1 + i);
          const [lv, qq] = quantize(q, opts.grid.scale[r][g], opts.grid.zero[r][g], opts.grid);
          levels[r][i1 + i] = lv;
          q = qq;
        }
        Q1[r][i] = q;
        Losses1[r][i] = (w - q) ** 2 / d ** 2;
        const err1 = (w - q) / d;
        for (let j = i; j < count; j++) W1[r][j] -= err1 * Hinv[i1 + i][i1 + j];
        Err1[r][i] = err1;
      }
    }
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < count; i++) {
        W[r][i1 + i] = Q1[r][i];
        mask[r][i1 + i] = mask1[r][i];
        s += Losses1[r][i];
      }
      Losses[r] += s / 2;
    }
    for (let r = 0; r < rows; r++) for (let j = i2; j < columns; j++) {
      let s = 0;
      for (let k = 0; k < count; k++) s += Err1[r][k] * Hinv[i1 + k][j];
      W[r][j] -= s;
    }
  }
  return { W, mask, levels, losses: Losses.reduce((a, b) => a + b, 0) };
}
