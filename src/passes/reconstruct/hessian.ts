/**
 * The Hessian sink: H = 2·XᵀX/N of a layer's inputs, accumulated batch by batch
 * in float64 (IST-DASLab/gptq gptq.py `add_batch`):
 *
 *   H *= N / (N + t);  N += t;  H += (2 / N) · XᵀX
 *
 * where t is the number of samples in the batch (the reference's inp.shape[0]:
 * sequences or images, not rows). Memory is O(cols²), not O(samples). XᵀX runs
 * on the float64 gemm kernel (the reference scales X by √(2/N) and multiplies in
 * float32); only the lower triangle is computed, then mirrored on read.
 *
 * Conv inputs become rows with `im2colRows`; each group of a grouped conv has
 * its own accumulator.
 */
import { gemmSub, transposed, view } from '../../linalg';

/** Row blocks of the lower-triangle product (a multiple of the kernel's 4). */
const ROWS = 128;

export class HessianAccumulator {
  /** Lower triangle is current; the upper is filled by `hessian()`. */
  private readonly h: Float64Array;
  /** Samples seen (N). */
  samples = 0;
  /** Rows seen (for the caller's report). */
  rows = 0;
  /** Σ x per input, over every row (for bias correction's E[x]). */
  private readonly sum: Float64Array;

  constructor(readonly cols: number) {
    this.h = new Float64Array(cols * cols);
    this.sum = new Float64Array(cols);
  }

  /**
   * Adds a batch X [rows, cols] (row-major). `samples` is what the running
   * average counts (the reference's batch dimension: for a [batch, seq, hidden]
   * input, batch); by default every row is a sample.
   */
  add(x: Float32Array | Float64Array, rows: number, samples = rows): void {
    const n = this.cols;
    if (x.length !== rows * n) throw new RangeError(`batch has ${x.length} values, expected ${rows}×${n}`);
    if (rows === 0) return;
    const h = this.h;
    const keep = this.samples / (this.samples + samples);
    for (let i = 0; i < n; i++) for (let j = i * n, e = j + i + 1; j < e; j++) h[j] *= keep;
    this.samples += samples;
    this.rows += rows;
    // H −= (−s·X)ᵀ·(s·X) with s = √(2/N), as the reference scales X before its product.
    const s = Math.sqrt(2 / this.samples);
    const xs = new Float64Array(x.length);
    const neg = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = s * x[i];
      xs[i] = v;
      neg[i] = -v;
    }
    for (let r = 0; r < rows; r++) for (let c = 0, o = r * n; c < n; c++) this.sum[c] += x[o + c];
    for (let r0 = 0; r0 < n; r0 += ROWS) {
      const r1 = Math.min(n, r0 + ROWS);
      gemmSub(h, r0 * n, n, r1 - r0, r1, rows, transposed(view(neg, n, 0, r0)), view(xs, n));
    }
  }

  /**
   * Adds a batch given by its Gram matrix G = XᵀX [cols, cols] (row-major; only the
   * lower triangle is read) and column sums Σ_rows x, as a runtime computes them
   * in-graph: the same running average as add(), H *= N/(N+t); N += t; H += (2/N)·G,
   * with G's products summed in the runtime's precision and the batches in float64.
   */
  addGram(g: Float32Array | Float64Array, colSums: ArrayLike<number>, rows: number, samples = rows): void {
    const n = this.cols;
    if (g.length !== n * n) throw new RangeError(`Gram matrix has ${g.length} values, expected ${n}×${n}`);
    if (colSums.length !== n) throw new RangeError(`column sums have ${colSums.length} values, expected ${n}`);
    if (rows === 0) return;
    const h = this.h;
    const keep = this.samples / (this.samples + samples);
    this.samples += samples;
    this.rows += rows;
    const s = 2 / this.samples;
    for (let i = 0; i < n; i++) for (let j = i * n, e = j + i + 1; j < e; j++) h[j] = h[j] * keep + s * g[j];
    for (let c = 0; c < n; c++) this.sum[c] += colSums[c];
  }

  /** E[x] per input over every row seen (a new array; zeros before any row). */
  mean(): Float64Array {
    return this.sum.map((v) => (this.rows ? v / this.rows : 0));
  }

  /** H (cols×cols, symmetric, a new array). */
  hessian(): Float64Array {
    const n = this.cols;
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      out.set(this.h.subarray(i * n, i * n + i + 1), i * n);
      for (let j = 0; j < i; j++) out[j * n + i] = this.h[i * n + j];
    }
    return out;
  }
}

export interface Conv2dGeometry {
  /** Kernel [kh, kw]. */
  kernel: [number, number];
  strides?: [number, number];
  /** ONNX order: [top, left, bottom, right]. */
  pads?: [number, number, number, number];
  dilations?: [number, number];
  group?: number;
}

/**
 * The im2col rows of an NCHW input for a Conv: for each group g, a matrix
 * [N·outH·outW, (C/group)·kh·kw], column (c, ky, kx) at c·kh·kw + ky·kw + kx —
 * the order of an ONNX Conv weight [M, C/group, kh, kw] flattened per output
 * channel, and of torch.nn.Unfold, which the reference uses. Padding reads 0.
 */
export function im2colRows(x: Float32Array, shape: readonly [number, number, number, number], geo: Conv2dGeometry): { rows: number; cols: number; groups: Float32Array[] } {
  const [n, c, ih, iw] = shape;
  const [kh, kw] = geo.kernel;
  const [sh, sw] = geo.strides ?? [1, 1];
  const [pt, pl, pb, pr] = geo.pads ?? [0, 0, 0, 0];
  const [dh, dw] = geo.dilations ?? [1, 1];
  const group = geo.group ?? 1;
  if (c % group !== 0) throw new RangeError(`${c} input channels do not split into ${group} groups`);
  const oh = Math.floor((ih + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((iw + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const cg = c / group;
  const cols = cg * kh * kw;
  const rows = n * oh * ow;
  const groups: Float32Array[] = [];
  for (let g = 0; g < group; g++) {
    const out = new Float32Array(rows * cols);
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const ro = ((b * oh + oy) * ow + ox) * cols;
          for (let cc = 0; cc < cg; cc++) {
            const plane = (b * c + g * cg + cc) * ih * iw;
            for (let ky = 0; ky < kh; ky++) {
              const y = oy * sh - pt + ky * dh;
              for (let kx = 0; kx < kw; kx++) {
                const xx = ox * sw - pl + kx * dw;
                out[ro + (cc * kh + ky) * kw + kx] = y >= 0 && y < ih && xx >= 0 && xx < iw ? x[plane + y * iw + xx] : 0;
              }
            }
          }
        }
      }
    }
    groups.push(out);
  }
  return { rows, cols, groups };
}
