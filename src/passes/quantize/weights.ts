/**
 * Weight quantizers: per-tensor, per-channel (along the op's output axis) and
 * block-wise (blocks of `blockSize` along the reduction axis, as ONNX
 * DequantizeLinear-21 `block_size` and MatMulNBits define them).
 *
 * Every granularity is cut into the same two kinds of stretch of consecutive
 * elements (see `stretches`): a *run*, whose elements all share one group
 * (per tensor; per channel on a leading axis; blocks along the last axis), or
 * a *row*, whose element j belongs to group k0 + j (channels on the last axis,
 * as MatMul B [K, N] per column; blocks along a leading axis). Two passes over
 * the float32 data, typed arrays only, each a tight loop per stretch: range
 * per group, then quantize + measure the error.
 */
import { InputError } from '../../errors';
import { affineParams, IntRange, QuantDType, sqnrDb, symmetricScale } from './params';
import { weightKernel, WeightKernel } from './weight-kernel';

export type WeightLayout =
  | { granularity: 'tensor' }
  | { granularity: 'channel'; axis: number }
  | { granularity: 'block'; axis: number; blockSize: number };

/**
 * The layout a weight gets under a run's granularity. Blocks run along the reduction axis,
 * but only where that axis holds at least one whole block: a Conv with one input channel per
 * group (depthwise, or [M, 1, K] filter banks such as an STFT basis) has a reduction axis of
 * length 1, where blocks of one element would take more bytes than float; such a weight gets
 * one scale per output channel instead.
 */
export function weightLayout(
  shape: readonly number[], granularity: 'tensor' | 'channel' | 'block', blockSize: number, axes: { outAxis?: number; inAxis?: number },
): WeightLayout {
  if (granularity === 'block' && axes.inAxis !== undefined && (shape[axes.inAxis] >= blockSize || axes.outAxis === undefined)) {
    return { granularity: 'block', axis: axes.inAxis, blockSize };
  }
  if (granularity !== 'tensor' && axes.outAxis !== undefined) return { granularity: 'channel', axis: axes.outAxis };
  return { granularity: 'tensor' };
}

/** How many scales a layout gives a weight of this shape. */
export function scaleCount(shape: readonly number[], layout: WeightLayout): number {
  if (layout.granularity === 'tensor') return 1;
  if (layout.granularity === 'channel') return shape[layout.axis];
  const d = shape[layout.axis];
  return (shape.reduce((a, b) => a * b, 1) / d) * Math.ceil(d / layout.blockSize);
}

export interface QuantizedWeight {
  dtype: QuantDType;
  /** One quantized element per weight element, in the weight's own layout (4-bit values unpacked). */
  values: Int8Array | Uint8Array;
  scales: Float32Array;
  /** Shape of `scales` (and zero points) as ONNX DequantizeLinear wants it: [] per tensor, [C] per channel, blocked shape per block. */
  scaleShape: number[];
  /** Zero points with the dtype of `values`; all zero when symmetric. */
  zeroPoints: Int8Array | Uint8Array;
  symmetric: boolean;
  layout: WeightLayout;
  /** Weight SQNR in dB of the dequantized weight against the original (Infinity = exact). */
  sqnrDb: number;
}

/**
 * A weight cut into stretches of consecutive elements, in element order:
 * stretch i covers [start[i], start[i] + length[i]). Stretches are grouped in
 * segments: segment s is stretches [segment[s], segment[s + 1]) and owns the
 * `size` groups [s·size, (s + 1)·size), which no other segment touches, so a
 * segment is ranged and quantized on its own with small scratch arrays
 * (a 32-row block of a [K, N] matrix stays in cache between the two passes).
 * group[i] is relative to the segment: in a row (`rows`) element j is in
 * group group[i] + j, in a run every element is in group[i].
 */
interface Stretches {
  rows: boolean;
  start: Int32Array;
  length: Int32Array;
  group: Int32Array;
  segment: Int32Array;
  size: number;
  groups: number;
  scaleShape: number[];
}

function stretchList(count: number): Pick<Stretches, 'start' | 'length' | 'group'> {
  return { start: new Int32Array(count), length: new Int32Array(count), group: new Int32Array(count) };
}

/** A single segment of `count` stretches (possibly none: its groups still get parameters). */
function oneSegment(count: number): Int32Array {
  return Int32Array.of(0, count);
}

/** Segment boundaries every `per` stretches. */
function everyNth(count: number, per: number): Int32Array {
  const segs = per > 0 ? Math.ceil(count / per) : 0;
  const seg = new Int32Array(segs + 1);
  for (let s = 0; s <= segs; s++) seg[s] = Math.min(count, s * per);
  return seg;
}

/** The weight viewed as [outer, D, inner] around the layout's axis, cut into runs or rows (see Stretches). */
function stretches(shape: readonly number[], layout: WeightLayout): Stretches {
  const n = shape.reduce((a, b) => a * b, 1);
  if (layout.granularity === 'tensor') {
    const s = stretchList(1);
    s.length[0] = n;
    return { rows: false, ...s, segment: oneSegment(1), size: 1, groups: 1, scaleShape: [] };
  }
  const axis = layout.axis;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const d = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (layout.granularity === 'channel') {
    if (inner === 1) {
      // Channels on the last axis (MatMul B [K, N]): rows of D elements, group = position in the row.
      const s = stretchList(outer);
      for (let o = 0; o < outer; o++) { s.start[o] = o * d; s.length[o] = d; }
      return { rows: true, ...s, segment: oneSegment(outer), size: d, groups: d, scaleShape: [d] };
    }
    const s = stretchList(outer * d);
    for (let o = 0, i = 0; o < outer; o++) {
      for (let c = 0; c < d; c++, i++) { s.start[i] = i * inner; s.length[i] = inner; s.group[i] = c; }
    }
    return { rows: false, ...s, segment: oneSegment(outer * d), size: d, groups: d, scaleShape: [d] };
  }
  const bs = layout.blockSize;
  const nb = Math.ceil(d / bs);
  const scaleShape = [...shape];
  scaleShape[axis] = nb;
  const groups = outer * nb * inner;
  if (inner === 1) {
    // Blocks along the last axis ([N, K] weights): runs of bs elements (the last one of a row may be shorter), a segment per row.
    const s = stretchList(outer * nb);
    for (let o = 0, i = 0; o < outer; o++) {
      for (let b = 0; b < nb; b++, i++) { s.start[i] = o * d + b * bs; s.length[i] = Math.min(bs, d - b * bs); s.group[i] = b; }
    }
    return { rows: false, ...s, segment: everyNth(outer * nb, nb), size: nb, groups, scaleShape };
  }
  // Blocks along a leading axis (MatMul B [K, N] along K): rows of `inner`, a segment per block of bs rows.
  const s = stretchList(outer * d);
  const seg = new Int32Array(outer * nb + 1);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let dd = 0; dd < d; dd++, i++) {
      s.start[i] = i * inner;
      s.length[i] = inner;
      if (dd % bs === 0) seg[o * nb + dd / bs] = i;
    }
  }
  seg[outer * nb] = outer * d;
  return { rows: true, ...s, segment: seg, size: inner, groups, scaleShape };
}

/** Range of one row: element j updates group k0 + j. */
function rangeRow(w: Float32Array, start: number, len: number, k0: number, min: Float64Array, max: Float64Array): void {
  for (let j = 0; j < len; j++) {
    const v = w[start + j];
    const k = k0 + j;
    if (v < min[k]) min[k] = v;
    if (v > max[k]) max[k] = v;
  }
}

/** Range of one run: every element updates group k (kept in locals). */
function rangeRun(w: Float32Array, start: number, len: number, k: number, min: Float64Array, max: Float64Array): void {
  let lo = min[k];
  let hi = max[k];
  const end = start + len;
  for (let i = start; i < end; i++) {
    const v = w[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  min[k] = lo;
  max[k] = hi;
}

/**
 * Symmetric ranges need only max |v|. On the float32 bits: |v| is bits & 0x7fffffff,
 * and for non-negative floats the integer order is the float order (NaN sorts
 * above +Inf, so it still shows as a non-finite maximum). The integer maximum is
 * taken without a branch, m − ((m − a) & ((m − a) >> 31)), because a running
 * maximum over a 32-row block changes often enough to defeat branch prediction
 * (this is ~4× faster than compare-and-store there).
 */
function absMaxRow(bits: Int32Array, start: number, len: number, k0: number, am: Int32Array): void {
  for (let j = 0; j < len; j++) {
    const a = bits[start + j] & 0x7fffffff;
    const k = k0 + j;
    const m = am[k];
    const d = m - a;
    am[k] = m - (d & (d >> 31));
  }
}

function absMaxRun(bits: Int32Array, start: number, len: number, k: number, am: Int32Array): void {
  let m = am[k];
  const end = start + len;
  for (let i = start; i < end; i++) {
    const d = m - (bits[i] & 0x7fffffff);
    m -= d & (d >> 31);
  }
  am[k] = m;
}

function firstNonFinite(w: Float32Array): number {
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) return i;
  return -1;
}

function throwNonFinite(w: Float32Array, name: string): void {
  const bad = firstNonFinite(w);
  if (bad >= 0) throw new InputError(`weight '${name}' has a non-finite value (${w[bad]}) at element ${bad}; refusing to quantize`);
}

/**
 * Per-group constants of the quantize loop.
 *  - inv = 1 / scale in float64. fround(v · inv) equals fround(v / scale) for
 *    float32 v and scale whenever the result is a normal float32: the quotient
 *    of two 24-bit significands is never a float32 rounding midpoint, and its
 *    relative distance to the nearest one is at least about 2^-49, while v · inv
 *    is within 2^-52 of the exact quotient (two roundings of 2^-53 each), so
 *    both round to the same float32. Below the normal range both are under 0.5
 *    in magnitude and round to the integer 0. (Checked against the division on
 *    targeted near-midpoint cases by bench/quantize-exactness.js.) A float64
 *    division costs about as much as the rest of the loop.
 *  - lo, hi = qmin − zp, qmax − zp: clamping before rounding gives the same q
 *    as clamp(round(x) + zp) because rounding is monotone and fixes the
 *    integer bounds; it also keeps |x| small for ROUND_MAGIC.
 */
interface GroupParams {
  scales: Float32Array;
  inv: Float64Array;
  zps: Int32Array;
  lo: Float64Array;
  hi: Float64Array;
}

function newParams(groups: number): GroupParams {
  return {
    scales: new Float32Array(groups), inv: new Float64Array(groups), zps: new Int32Array(groups),
    lo: new Float64Array(groups), hi: new Float64Array(groups),
  };
}

/** Symmetric parameters from each group's max |v| (0 for an empty group gives scale 1, as safeScale does). */
function setSymmetricParams(p: GroupParams, absMax: Float32Array, qmax: number): void {
  const { scales, inv, zps, lo, hi } = p;
  for (let k = 0; k < absMax.length; k++) {
    const s = symmetricScale(absMax[k], qmax);
    scales[k] = s;
    zps[k] = 0;
    inv[k] = 1 / s;
    lo[k] = -qmax;
    hi[k] = qmax;
  }
}

/** Affine parameters from each group's min and max. */
function setAffineParams(p: GroupParams, min: Float64Array, max: Float64Array, qmin: number, qmax: number): void {
  const { scales, inv, zps, lo, hi } = p;
  for (let k = 0; k < min.length; k++) {
    let s = 1; // empty group
    let zp = 0;
    if (min[k] <= max[k]) {
      const a = affineParams(min[k], max[k], qmin, qmax);
      s = a.scale;
      zp = a.zeroPoint;
    }
    scales[k] = s;
    zps[k] = zp;
    inv[k] = 1 / s;
    lo[k] = qmin - zp;
    hi[k] = qmax - zp;
  }
}

/** Scratch for one segment's ranges. */
interface RangeScratch {
  min: Float64Array;
  max: Float64Array;
  absBits: Int32Array;
  /** absBits read as float32. */
  absMax: Float32Array;
}

function rangeScratch(size: number): RangeScratch {
  const absBits = new Int32Array(size);
  return { min: new Float64Array(size), max: new Float64Array(size), absBits, absMax: new Float32Array(absBits.buffer) };
}

/**
 * Ranges the stretches [first, end) of one segment and fills `p` for its groups.
 * Throws InputError on ±Inf or NaN (NaN is caught here when symmetric; else by
 * the energy check in quantizeWeight), naming the tensor.
 */
function segmentParams(
  w: Float32Array, st: Stretches, first: number, end: number, range: IntRange, symmetric: boolean,
  r: RangeScratch, p: GroupParams, name: string, kernel?: WeightKernel,
): void {
  const { start, length, group } = st;
  // Every group holds at least one element unless the weight is empty.
  const check = w.length > 0;
  if (symmetric) {
    const bits = new Int32Array(w.buffer, w.byteOffset, w.length);
    r.absBits.fill(0);
    if (kernel && end > first) kernel.absMaxRows(w, start[first], end - first, st.size, r.absBits);
    else if (st.rows) for (let i = first; i < end; i++) absMaxRow(bits, start[i], length[i], group[i], r.absBits);
    else for (let i = first; i < end; i++) absMaxRun(bits, start[i], length[i], group[i], r.absBits);
    if (check) for (let k = 0; k < st.size; k++) if (!Number.isFinite(r.absMax[k])) throwNonFinite(w, name);
    setSymmetricParams(p, r.absMax, range.qmax);
    return;
  }
  r.min.fill(Infinity);
  r.max.fill(-Infinity);
  if (kernel && end > first) kernel.minMaxRows(w, start[first], end - first, st.size, r.min, r.max);
  else if (st.rows) for (let i = first; i < end; i++) rangeRow(w, start[i], length[i], group[i], r.min, r.max);
  else for (let i = first; i < end; i++) rangeRun(w, start[i], length[i], group[i], r.min, r.max);
  // NaN never wins a comparison and ±Inf pass through, so one check per group finds both.
  if (check) for (let k = 0; k < st.size; k++) if (!Number.isFinite(r.min[k]) || !Number.isFinite(r.max[k])) throwNonFinite(w, name);
  setAffineParams(p, r.min, r.max, range.qmin, range.qmax);
}

/**
 * 1.5 · 2^52. For |x| < 2^51, x + ROUND_MAGIC lies in [2^52, 2^53), where
 * float64 has no fraction bits, so the addition rounds x to an integer with
 * IEEE 754's default roundTiesToEven, and subtracting the constant back is
 * exact: (x + ROUND_MAGIC) − ROUND_MAGIC = roundHalfEven(x) (numpy.rint, ORT's
 * nearbyint). The loops clamp x to the integer range first, so |x| ≤ 255.
 */
const ROUND_MAGIC = 6755399441055744;

/**
 * Quantizes one row (element j in group k0 + j), q = clamp(rint(fround(v / s)) + zp),
 * and adds v² and (v − fround((q − zp)·s))² to acc = [signal, noise] in element order.
 * Stores go through `| 0`: storing a float64 into a Uint8Array takes V8's slow path.
 */
function quantizeRow(w: Float32Array, out: Uint8Array, start: number, len: number, k0: number, p: GroupParams, acc: Float64Array): void {
  const { scales, inv, zps, lo, hi } = p;
  let signal = acc[0];
  let noise = acc[1];
  for (let j = 0; j < len; j++) {
    const k = k0 + j;
    const v = w[start + j];
    let x = Math.fround(v * inv[k]);
    const a = lo[k];
    const b = hi[k];
    x = x < a ? a : x > b ? b : x;
    const q = x + ROUND_MAGIC - ROUND_MAGIC;
    out[start + j] = (q + zps[k]) | 0;
    const e = v - Math.fround(q * scales[k]);
    signal += v * v;
    noise += e * e;
  }
  acc[0] = signal;
  acc[1] = noise;
}

/** quantizeRow for a run: one group k for every element. */
function quantizeRun(w: Float32Array, out: Uint8Array, start: number, len: number, k: number, p: GroupParams, acc: Float64Array): void {
  const s = p.scales[k];
  const inv = p.inv[k];
  const zp = p.zps[k];
  const a = p.lo[k];
  const b = p.hi[k];
  let signal = acc[0];
  let noise = acc[1];
  const end = start + len;
  for (let i = start; i < end; i++) {
    const v = w[i];
    let x = Math.fround(v * inv);
    x = x < a ? a : x > b ? b : x;
    const q = x + ROUND_MAGIC - ROUND_MAGIC;
    out[i] = (q + zp) | 0;
    const e = v - Math.fround(q * s);
    signal += v * v;
    noise += e * e;
  }
  acc[0] = signal;
  acc[1] = noise;
}

/**
 * Whether the SIMD kernel (weight-kernel.ts) can take these stretches: rows of one group
 * each per element, every row `size` long (a multiple of 4) and right after the previous
 * one, each segment starting at group 0. MatMul/Gemm weights per channel and in blocks along
 * K are such; the rest (runs, odd widths) takes the JS loops.
 */
function kernelFits(st: Stretches): boolean {
  if (!st.rows || st.size % 4 !== 0 || st.size === 0) return false;
  for (let i = 0; i < st.start.length; i++) {
    if (st.length[i] !== st.size || st.group[i] !== 0 || (i > 0 && st.start[i] !== st.start[i - 1] + st.size)) return false;
  }
  return true;
}

/**
 * Quantizes a float32 weight. `range` picks storage and symmetry (see params.ts).
 * Deterministic: fixed iteration order; the SIMD kernel, where it applies, gives the
 * same bytes, scales and SQNR as the JS loops (weight-kernel.ts).
 */
export function quantizeWeight(
  w: Float32Array,
  shape: readonly number[],
  layout: WeightLayout,
  range: IntRange,
  name: string,
): QuantizedWeight {
  const st = stretches(shape, layout);
  const kernel = kernelFits(st) ? weightKernel() : undefined;
  const symmetric = range.qmin === -range.qmax;
  const signed = range.dtype === 'int8' || range.dtype === 'int4';
  const scales = new Float32Array(st.groups);
  const zps = new Int32Array(st.groups);
  const out = new Uint8Array(w.length); // two's complement bytes; viewed as Int8Array when signed
  const acc = new Float64Array(2); // [signal, noise]
  // Scratch for one segment's groups.
  const r = rangeScratch(st.size);
  const p = newParams(st.size);
  const { start, length, group, segment } = st;
  for (let s = 0; s + 1 < segment.length; s++) {
    const first = segment[s];
    const end = segment[s + 1];
    segmentParams(w, st, first, end, range, symmetric, r, p, name, kernel);
    scales.set(p.scales, s * st.size);
    zps.set(p.zps, s * st.size);
    if (kernel) {
      if (end > first) kernel.quantizeRows(w, out, start[first], end - first, st.size, p, range.qmin >= 0, acc);
    } else if (st.rows) for (let i = first; i < end; i++) quantizeRow(w, out, start[i], length[i], group[i], p, acc);
    else for (let i = first; i < end; i++) quantizeRun(w, out, start[i], length[i], group[i], p, acc);
  }
  // NaN slips through min/max comparisons but poisons the energy sum: check once here.
  if (!Number.isFinite(acc[0])) throwNonFinite(w, name);
  const values = signed ? new Int8Array(out.buffer) : out;
  const zeroPoints = signed ? Int8Array.from(zps) : Uint8Array.from(zps);
  return { dtype: range.dtype, values, scales, scaleShape: st.scaleShape, zeroPoints, symmetric, layout, sqnrDb: sqnrDb(acc[0], acc[1]) };
}

/**
 * The float32 weight that ONNX DequantizeLinear (and MatMulNBits) computes from
 * a QuantizedWeight: (q - zp) · scale rounded once to float32. Used by tests and
 * by the report; a plain reference, not a hot path.
 */
export function dequantizeWeight(qw: QuantizedWeight, shape: readonly number[]): Float32Array {
  const st = stretches(shape, qw.layout);
  const out = new Float32Array(qw.values.length);
  const step = st.rows ? 1 : 0;
  for (let s = 0; s + 1 < st.segment.length; s++) {
    for (let r = st.segment[s]; r < st.segment[s + 1]; r++) {
      let gi = s * st.size + st.group[r];
      for (let j = 0, i = st.start[r]; j < st.length[r]; j++, i++, gi += step) {
        out[i] = Math.fround((qw.values[i] - qw.zeroPoints[gi]) * qw.scales[gi]);
      }
    }
  }
  return out;
}
