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
import { affineParams, IntRange, QuantDType, sqnrDb, symmetricScale } from './params';

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
    // Channels on the last axis (MatMul B [K, N]): walk rows of D elements, group = position in the row.
    if (inner === 1) return { outer, d: 1, inner: d, block: 1, oStride: 0, gStride: 0, jStride: 1, groups: d, scaleShape: [d] };
    return { outer, d, inner, block: 1, oStride: 0, gStride: 1, jStride: 0, groups: d, scaleShape: [d] };
  }
  const nb = Math.ceil(d / layout.blockSize);
  const scaleShape = [...shape];
  scaleShape[axis] = nb;
  return { outer, d, inner, block: layout.blockSize, oStride: nb, gStride: inner, jStride: 1, groups: outer * nb * inner, scaleShape };
}

/** Per-group minimum and maximum; throws InputError on NaN/Inf, naming the tensor. */
function groupRanges(w: Float32Array, g: Grouping, name: string): { min: Float64Array; max: Float64Array } {
  const min = new Float64Array(g.groups).fill(Infinity);
  const max = new Float64Array(g.groups).fill(-Infinity);
  let i = 0;
  for (let o = 0; o < g.outer; o++) {
    for (let d = 0; d < g.d; d++) {
      const base = (o * g.oStride + ((d / g.block) | 0)) * g.gStride;
      if (g.jStride === 0) {
        // One group for the whole run (tensor, channel): keep the running range in locals.
        let lo = min[base];
        let hi = max[base];
        const end = i + g.inner;
        for (; i < end; i++) {
          const v = w[i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        min[base] = lo;
        max[base] = hi;
      } else {
        for (let j = 0; j < g.inner; j++, i++) {
          const v = w[i];
          if (v < min[base + j]) min[base + j] = v;
          if (v > max[base + j]) max[base + j] = v;
        }
      }
    }
  }
  // NaN never wins a comparison and ±Inf pass through, so one check per group finds both.
  for (let k = 0; k < g.groups; k++) {
    if (!Number.isFinite(min[k]) || !Number.isFinite(max[k])) {
      if (g.inner * g.d * g.outer === 0) break;
      const bad = firstNonFinite(w);
      if (bad >= 0) throw new InputError(`weight '${name}' has a non-finite value (${w[bad]}) at element ${bad}; refusing to quantize`);
    }
  }
  return { min, max };
}

function firstNonFinite(w: Float32Array): number {
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) return i;
  return -1;
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
  // Zero points as plain int32 in the hot loop (one typed-array kind keeps it monomorphic).
  const zps = new Int32Array(g.groups);
  for (let k = 0; k < g.groups; k++) {
    if (!(min[k] <= max[k])) { scales[k] = 1; continue; } // empty group
    if (symmetric) {
      scales[k] = symmetricScale(Math.max(Math.abs(min[k]), Math.abs(max[k])), range.qmax);
    } else {
      const p = affineParams(min[k], max[k], range.qmin, range.qmax);
      scales[k] = p.scale;
      zps[k] = p.zeroPoint;
    }
  }
  const out = new Uint8Array(w.length); // two's complement bytes; viewed as Int8Array when signed
  const { qmin, qmax } = range;
  let signal = 0;
  let noise = 0;
  let i = 0;
  for (let o = 0; o < g.outer; o++) {
    for (let d = 0; d < g.d; d++) {
      const base = (o * g.oStride + ((d / g.block) | 0)) * g.gStride;
      const end = i + g.inner;
      if (g.jStride === 0) {
        const s = scales[base];
        const zp = zps[base];
        for (; i < end; i++) {
          const v = w[i];
          // float32 division, then ties-to-even, as ORT's QuantizeLinear.
          const r = Math.fround(v / s);
          let q = Math.round(r);
          if (q - r === 0.5 && (q & 1) !== 0) q -= 1;
          q += zp;
          q = q < qmin ? qmin : q > qmax ? qmax : q;
          out[i] = q & 0xff;
          const e = v - Math.fround((q - zp) * s);
          signal += v * v;
          noise += e * e;
        }
      } else {
        for (let gi = base; i < end; i++, gi++) {
          const s = scales[gi];
          const zp = zps[gi];
          const v = w[i];
          const r = Math.fround(v / s);
          let q = Math.round(r);
          if (q - r === 0.5 && (q & 1) !== 0) q -= 1;
          q += zp;
          q = q < qmin ? qmin : q > qmax ? qmax : q;
          out[i] = q & 0xff;
          const e = v - Math.fround((q - zp) * s);
          signal += v * v;
          noise += e * e;
        }
      }
    }
  }
  // NaN slips through min/max comparisons but poisons the energy sum: check once here.
  if (!Number.isFinite(signal)) {
    const bad = firstNonFinite(w);
    if (bad >= 0) throw new InputError(`weight '${name}' has a non-finite value (${w[bad]}) at element ${bad}; refusing to quantize`);
  }
  const values = signed ? new Int8Array(out.buffer) : out;
  const zeroPoints = signed ? Int8Array.from(zps) : Uint8Array.from(zps);
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
