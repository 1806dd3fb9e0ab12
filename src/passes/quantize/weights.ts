/**
 * Weight quantizers: per-tensor, per-channel (along the op's output axis) and
 * block-wise (blocks of `blockSize` along the reduction axis, as ONNX
 * DequantizeLinear-21 `block_size` and MatMulNBits define them).
 *
 * Every granularity is one shape of the same loop: view the weight as
 * [outer, D, inner] around the chosen axis; element (o, d, j) belongs to group
 *   g = (o·oStride + ⌊d / block⌋) · gStride + j · jStride
 * (tensor: one group; channel: g = d; block: g indexes a scale tensor shaped
 * like the weight with D replaced by ⌈D / block⌉). Two passes over the float32
 * data, typed arrays only: range per group, then quantize + measure the error.
 */
import { InputError } from '../../errors';
import { affineParams, IntRange, QuantDType, roundHalfEven, sqnrDb, symmetricScale } from './params';

export type WeightLayout =
  | { granularity: 'tensor' }
  | { granularity: 'channel'; axis: number }
  | { granularity: 'block'; axis: number; blockSize: number };

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

interface Grouping {
  outer: number;
  d: number;
  inner: number;
  block: number;
  oStride: number;
  gStride: number;
  jStride: number;
  groups: number;
  scaleShape: number[];
}

function grouping(shape: readonly number[], layout: WeightLayout): Grouping {
  const n = shape.reduce((a, b) => a * b, 1);
  if (layout.granularity === 'tensor') {
    return { outer: 1, d: 1, inner: n, block: 1, oStride: 0, gStride: 0, jStride: 0, groups: 1, scaleShape: [] };
  }
  const axis = layout.axis;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const d = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (layout.granularity === 'channel') {
    return { outer, d, inner, block: 1, oStride: 0, gStride: 1, jStride: 0, groups: d, scaleShape: [d] };
  }
  const nb = Math.ceil(d / layout.blockSize);
  const scaleShape = [...shape];
  scaleShape[axis] = nb;
  return { outer, d, inner, block: layout.blockSize, oStride: nb, gStride: inner, jStride: 1, groups: outer * nb * inner, scaleShape };
}

/** Per-group minimum and maximum; throws InputError on NaN/Inf, naming the tensor. */
function groupRanges(w: Float32Array, g: Grouping, name: string): { min: Float32Array; max: Float32Array } {
  const min = new Float32Array(g.groups).fill(Infinity);
  const max = new Float32Array(g.groups).fill(-Infinity);
  let i = 0;
  for (let o = 0; o < g.outer; o++) {
    for (let d = 0; d < g.d; d++) {
      const base = (o * g.oStride + ((d / g.block) | 0)) * g.gStride;
      for (let j = 0; j < g.inner; j++, i++) {
        const v = w[i];
        if (v - v !== 0) throw new InputError(`weight '${name}' has a non-finite value (${v}) at element ${i}; refusing to quantize`);
        const gi = base + j * g.jStride;
        if (v < min[gi]) min[gi] = v;
        if (v > max[gi]) max[gi] = v;
      }
    }
  }
  return { min, max };
}

/**
 * Quantizes a float32 weight. `range` picks storage and symmetry (see params.ts).
 * Deterministic: no parallelism, fixed iteration order.
 */
export function quantizeWeight(
  w: Float32Array,
  shape: readonly number[],
  layout: WeightLayout,
  range: IntRange,
  name: string,
): QuantizedWeight {
  const g = grouping(shape, layout);
  const { min, max } = groupRanges(w, g, name);
  const symmetric = range.qmin === -range.qmax;
  const signed = range.dtype === 'int8' || range.dtype === 'int4';
  const scales = new Float32Array(g.groups);
  const zeroPoints = signed ? new Int8Array(g.groups) : new Uint8Array(g.groups);
  for (let k = 0; k < g.groups; k++) {
    if (symmetric) {
      scales[k] = symmetricScale(Math.max(Math.abs(min[k]), Math.abs(max[k])), range.qmax);
    } else {
      const p = affineParams(min[k], max[k], range.qmin, range.qmax);
      scales[k] = p.scale;
      zeroPoints[k] = p.zeroPoint;
    }
  }
  const values = signed ? new Int8Array(w.length) : new Uint8Array(w.length);
  const { qmin, qmax } = range;
  let signal = 0;
  let noise = 0;
  let i = 0;
  for (let o = 0; o < g.outer; o++) {
    for (let d = 0; d < g.d; d++) {
      const base = (o * g.oStride + ((d / g.block) | 0)) * g.gStride;
      for (let j = 0; j < g.inner; j++, i++) {
        const gi = base + j * g.jStride;
        const s = scales[gi];
        const zp = zeroPoints[gi];
        const v = w[i];
        // float32 division, then ties-to-even, as ORT's QuantizeLinear.
        let q = roundHalfEven(Math.fround(v / s)) + zp;
        q = q < qmin ? qmin : q > qmax ? qmax : q;
        values[i] = q;
        const e = v - Math.fround((q - zp) * s);
        signal += v * v;
        noise += e * e;
      }
    }
  }
  return { dtype: range.dtype, values, scales, scaleShape: g.scaleShape, zeroPoints, symmetric, layout, sqnrDb: sqnrDb(signal, noise) };
}

/**
 * The float32 weight that ONNX DequantizeLinear (and MatMulNBits) computes from
 * a QuantizedWeight: (q - zp) · scale rounded once to float32. Used by tests and
 * by the report; a plain reference, not a hot path.
 */
export function dequantizeWeight(qw: QuantizedWeight, shape: readonly number[]): Float32Array {
  const g = grouping(shape, qw.layout);
  const out = new Float32Array(qw.values.length);
  let i = 0;
  for (let o = 0; o < g.outer; o++) {
    for (let d = 0; d < g.d; d++) {
      const base = (o * g.oStride + ((d / g.block) | 0)) * g.gStride;
      for (let j = 0; j < g.inner; j++, i++) {
        const gi = base + j * g.jStride;
        out[i] = Math.fround((qw.values[i] - qw.zeroPoints[gi]) * qw.scales[gi]);
      }
    }
  }
  return out;
}
