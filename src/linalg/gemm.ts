/**
 * C −= A·B in float64 on row-major Float64Arrays, cut into panels for the
 * micro-kernel of gemm-kernel.ts (the Goto/BLIS loop order: A is packed once per
 * depth panel of KC, up to MA rows; a KC×NC panel of B stays in L2 while the
 * MC-row tiles of C stream past it).
 *
 * A and B are read through strides, so a transposed operand costs nothing
 * extra: packing is a gather anyway. C is row-major with leading dimension ldc.
 *
 * Every element of C goes through the same operations whatever m, n and the
 * tiling: for each depth chunk of KC (in order) acc = Σ a·b in k order from 0,
 * then c = c − acc. So a row of C gets the same bits whether it is updated alone
 * or with others, on one thread or several.
 */
import { gemmTile, KC, MA, MC, NC } from './gemm-kernel';

/** A strided view: element (i, j) at data[off + i·rs + j·cs]. */
export interface Strided {
  data: Float64Array;
  off: number;
  rs: number;
  cs: number;
}

/** Row-major view of a matrix with `ld` elements between rows, starting at element (r0, c0). */
export function view(data: Float64Array, ld: number, r0 = 0, c0 = 0): Strided {
  return { data, off: r0 * ld + c0, rs: ld, cs: 1 };
}

/** The transpose of a view (no copy). */
export function transposed(s: Strided): Strided {
  return { data: s.data, off: s.off, rs: s.cs, cs: s.rs };
}

/**
 * C[m×n] −= A[m×k] · B[k×n]; C is row-major at cOff with leading dimension ldc.
 * C must not overlap A or B.
 */
export function gemmSub(c: Float64Array, cOff: number, ldc: number, m: number, n: number, k: number, a: Strided, b: Strided): void {
  if (m <= 0 || n <= 0 || k <= 0) return;
  const t = gemmTile();
  const f = t.f64;
  for (let i0 = 0; i0 < m; i0 += MA) {
    const ma = Math.min(MA, m - i0);
    for (let pc = 0; pc < k; pc += KC) {
      const kb = Math.min(KC, k - pc);
      packA(f, t.aAt, a, i0, pc, ma, kb, (ma + 3) >> 2);
      for (let jc = 0; jc < n; jc += NC) {
        const nb = Math.min(NC, n - jc);
        const ng = (nb + 3) >> 2;
        const nbp = ng * 4;
        packB(f, t.bAt, b, pc, jc, kb, nb, ng);
        for (let ic = 0; ic < ma; ic += MC) {
          const mb = Math.min(MC, ma - ic);
          const row0 = cOff + (i0 + ic) * ldc + jc;
          for (let i = 0; i < mb; i++) f.set(c.subarray(row0 + i * ldc, row0 + i * ldc + nb), t.cAt + i * nbp);
          t.run(ic * kb, (mb + 3) >> 2, ng, kb, nbp);
          for (let i = 0; i < mb; i++) c.set(f.subarray(t.cAt + i * nbp, t.cAt + i * nbp + nb), row0 + i * ldc);
        }
      }
    }
  }
}

/**
 * A rows [i0, i0 + mb) × depth [p0, p0 + kb) into groups of 4 rows (missing rows are 0).
 * The source is read along its unit stride (rows of a row-major A, columns of a
 * transposed one): a gather across rows 32 KiB apart would miss the TLB on every element.
 */
function packA(f: Float64Array, at: number, a: Strided, i0: number, p0: number, mb: number, kb: number, mg: number): void {
  const { data, rs, cs } = a;
  for (let i = mb; i < mg * 4; i++) {
    const base = at + (i >> 2) * kb * 4 + (i & 3);
    for (let kk = 0; kk < kb; kk++) f[base + kk * 4] = 0;
  }
  if (cs === 1 || rs !== 1) {
    for (let i = 0; i < mb; i++) {
      let src = a.off + (i0 + i) * rs + p0 * cs;
      for (let kk = 0, o = at + (i >> 2) * kb * 4 + (i & 3); kk < kb; kk++, o += 4, src += cs) f[o] = data[src];
    }
  } else {
    for (let kk = 0; kk < kb; kk++) {
      const src = a.off + (p0 + kk) * cs + i0;
      const o = at + kk * 4;
      for (let i = 0; i < mb; i++) f[o + (i >> 2) * kb * 4 + (i & 3)] = data[src + i];
    }
  }
}

/** B depth [p0, p0 + kb) × columns [j0, j0 + nb) into groups of 4 columns (missing columns are 0), read along B's unit stride. */
function packB(f: Float64Array, at: number, b: Strided, p0: number, j0: number, kb: number, nb: number, ng: number): void {
  const { data, rs, cs } = b;
  for (let j = nb; j < ng * 4; j++) {
    const base = at + (j >> 2) * kb * 4 + (j & 3);
    for (let kk = 0; kk < kb; kk++) f[base + kk * 4] = 0;
  }
  if (cs === 1) {
    for (let kk = 0; kk < kb; kk++) {
      const src = b.off + (p0 + kk) * rs + j0;
      const o = at + kk * 4;
      for (let j = 0; j < nb; j++) f[o + (j >> 2) * kb * 4 + (j & 3)] = data[src + j];
    }
  } else {
    for (let j = 0; j < nb; j++) {
      let src = b.off + p0 * rs + (j0 + j) * cs;
      for (let kk = 0, o = at + (j >> 2) * kb * 4 + (j & 3); kk < kb; kk++, o += 4, src += rs) f[o] = data[src];
    }
  }
}
