/**
 * The integer grid GPTQ and SparseGPT quantize onto: round 1's scales and zero
 * points, computed once from the original weight by quantizeWeight
 * (passes/quantize/weights.ts, params.ts) and then held fixed while the
 * reconstruction changes the weights ("static groups" in IST-DASLab/gptq's
 * fasterquant). So the emitted forms (MatMulNBits, DequantizeLinear int4 blocks,
 * int8 DequantizeLinear, tfjs manifests) are exactly round 1's; only the integer
 * values differ.
 *
 * The weight is [rows = output channels, cols = reduction axis], row-major; a
 * group is a block of `groupSize` input channels of one row (consecutive
 * columns, or for a Conv columns kh·kw apart, see GridOptions.shape), or a whole
 * row (per channel).
 */
import { intRange, IntRange, roundHalfEven } from '../quantize/params';
import { quantizeWeight, QuantizedWeight, weightLayout, WeightLayout } from '../quantize/weights';
import { quantizeTfjsAffine } from '../quantize/tfjs-affine';

export interface GridOptions {
  bits: 4 | 8;
  symmetric: boolean;
  /** Input channels per scale block (MatMulNBits / DequantizeLinear-21 block_size); 0 or absent: one scale per row. */
  groupSize?: number;
  /**
   * The weight's own shape when it is not [rows, cols]: [out, in, ...spatial] with
   * the reduction axis at 1, as an ONNX Conv weight [M, C/group, kh, kw] (cols =
   * C/group·kh·kw). Round 1 blocks a Conv weight along C, so a block holds the
   * same (ky, kx) of `groupSize` channels: columns kh·kw apart in the flattened row.
   */
  shape?: readonly number[];
  /**
   * tfjs storage (passes/quantize/tfjs-affine.ts): one affine range per tensor,
   * levels 0..tfjsQmax (15 for --bits 4 in the uint8 container, 255 for 8), with
   * tfjs-converter's nudged min = −zp·scale. Only a range that holds 0 has an
   * integer zero point (tfjsGridOf says why not otherwise). `bits`,
   * `symmetric` and `groupSize` are ignored.
   */
  tfjsQmax?: 15 | 255;
}

export interface QuantGrid {
  range: IntRange;
  layout: WeightLayout;
  /** Round 1's result on the original weight: scales, zero points, dtype, scale shape (of `shape`). */
  rtn: QuantizedWeight;
  /** Scale groups per row (1 per channel); group of (r, c) = r·groupsPerRow + colGroup[c]. */
  groupsPerRow: number;
  /** The group of each column within its row. */
  colGroup: Int32Array;
}

/** Round 1's grid for a [rows, cols] weight (float32 values; a Float64Array is rounded to float32 first). */
export function quantGrid(w: Float32Array | Float64Array, rows: number, cols: number, opts: GridOptions, name = 'weight'): QuantGrid {
  const w32 = w instanceof Float32Array ? w : Float32Array.from(w);
  if (opts.tfjsQmax) return tfjsGrid(w32, cols, opts.tfjsQmax, name);
  const range = intRange(opts.bits, opts.symmetric);
  const shape = opts.shape ?? [rows, cols];
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  if (shape[0] !== rows || shape[1] * inner !== cols) throw new RangeError(`weight shape [${shape.join(', ')}] is not [${rows}, ${cols}] flattened`);
  const layout = opts.groupSize
    ? weightLayout(shape, 'block', opts.groupSize, { outAxis: 0, inAxis: 1 })
    : ({ granularity: 'channel', axis: 0 } as const);
  const rtn = quantizeWeight(w32, shape, layout, range, name);
  const colGroup = new Int32Array(cols);
  let groupsPerRow = 1;
  if (layout.granularity === 'block') {
    // scales [rows, nb, ...spatial]: column c = channel·inner + s is in block ⌊channel/bs⌋ at spatial position s
    const bs = layout.blockSize;
    groupsPerRow = Math.ceil(shape[1] / bs) * inner;
    for (let c = 0; c < cols; c++) colGroup[c] = Math.floor(Math.floor(c / inner) / bs) * inner + (c % inner);
  }
  return { range, layout, rtn, groupsPerRow, colGroup };
}

/**
 * The tfjs per-tensor grid, exactly round 1's range (quantizeTfjsAffine: the
 * same min, scale and levels for the weight as given): level q decodes to
 * q·scale + min = (q − zp)·scale with zp = −min/scale, an integer because the
 * range was nudged to hold 0. The scale is kept in float32 here (the sweep's
 * arithmetic); the stored model keeps tfjs' float64 min and scale, so the
 * reconstruction's own view of a level differs from tfjs' decoding by at most
 * an ulp or so.
 */
function tfjsGrid(w: Float32Array, cols: number, qmax: 15 | 255, name: string): QuantGrid {
  const why = tfjsGridUnfit(w);
  if (why) throw new RangeError(`weight '${name}': ${why}`);
  const r = quantizeTfjsAffine(w, qmax, name);
  const zp = Math.round(-r.min / r.scale);
  const rtn: QuantizedWeight = {
    dtype: 'uint8', values: r.stored, scales: Float32Array.of(r.scale), scaleShape: [], zeroPoints: Uint8Array.of(zp),
    symmetric: false, layout: { granularity: 'tensor' }, sqnrDb: r.sqnrDb,
  };
  return { range: { dtype: 'uint8', qmin: 0, qmax }, layout: { granularity: 'tensor' }, rtn, groupsPerRow: 0, colGroup: new Int32Array(cols) };
}

/** Why a weight has no integer-zero-point tfjs grid (its range does not hold 0, or it is constant), or undefined. */
export function tfjsGridUnfit(w: Float32Array): string | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < w.length; i++) {
    if (w[i] < lo) lo = w[i];
    if (w[i] > hi) hi = w[i];
  }
  if (!(lo < hi)) return 'a constant tensor (every level decodes to it)';
  if (lo > 0 || hi < 0) return `its range [${lo}, ${hi}] does not hold 0, so tfjs' min is not a whole number of steps from 0 (no integer zero point)`;
  return undefined;
}

/** Index into the grid's scales of row r, original column c. */
export function groupOf(g: QuantGrid, r: number, c: number): number {
  return r * g.groupsPerRow + g.colGroup[c];
}

/**
 * The integer level of a float64 value on group k: clamp(rint(w / scale) + zp, qmin, qmax)
 * (params.ts conventions; the division in float64, since w is no longer a float32).
 */
export function levelOf(g: QuantGrid, k: number, w: number): number {
  const s = g.rtn.scales[k];
  const zp = g.rtn.zeroPoints[k];
  const q = roundHalfEven(w / s) + zp;
  return q < g.range.qmin ? g.range.qmin : q > g.range.qmax ? g.range.qmax : q;
}

/** The dequantized value of a level, as DequantizeLinear computes it: float32((q − zp)·scale). */
export function dequantOf(g: QuantGrid, k: number, q: number): number {
  return Math.fround((q - g.rtn.zeroPoints[k]) * g.rtn.scales[k]);
}

/**
 * The same quantized weight for the transposed tensor: a result on W [rows, cols]
 * (outputs × inputs) as round 1 lays out a MatMul B [cols, rows] = Wᵀ — values
 * transposed, per-channel scales on axis 1, blocks along axis 0 with scales
 * [⌈cols/bs⌉, rows]. (MatMulNBits takes the [rows, cols] form directly:
 * toMatMulNBits(weight, [rows, cols], 1).)
 */
export function transposeQuantized(qw: QuantizedWeight, rows: number, cols: number): QuantizedWeight {
  if (qw.scaleShape.length > 2) throw new RangeError('transposeQuantized takes a 2-D weight');
  const values = qw.values instanceof Int8Array ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[c * rows + r] = qw.values[r * cols + c];
  const { layout } = qw;
  if (layout.granularity === 'tensor') return { ...qw, values };
  if (layout.granularity === 'channel') return { ...qw, values, layout: { granularity: 'channel', axis: 1 } };
  const nb = Math.ceil(cols / layout.blockSize);
  const scales = new Float32Array(rows * nb);
  const zeroPoints = qw.zeroPoints instanceof Int8Array ? new Int8Array(rows * nb) : new Uint8Array(rows * nb);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      scales[b * rows + r] = qw.scales[r * nb + b];
      zeroPoints[b * rows + r] = qw.zeroPoints[r * nb + b];
    }
  }
  return { ...qw, values, scales, zeroPoints, scaleShape: [nb, rows], layout: { granularity: 'block', axis: 0, blockSize: layout.blockSize } };
}
