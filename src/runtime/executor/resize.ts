import type { Tensor4D } from '@tensorflow/tfjs';
import { UnsupportedError } from '../../errors';
import type { Node } from '../../ir';
import { need, OpContext, OpLimit, OpTable, T } from './types';

/**
 * ONNX Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) of the two spatial axes of
 * an NCHW tensor, in the forms tfjs computes exactly (with gradients): mode nearest with
 * coordinate_transformation_mode asymmetric and nearest_mode floor (src = ⌊dst / s⌋, the
 * upsampling exporters write; also half_pixel with round-half rounding at whole upscale
 * factors, which picks the same source), and mode linear with align_corners or asymmetric
 * (not half_pixel: resizeLimit).
 * The output size must be the input size times the scale exactly (tfjs maps coordinates by
 * in/out). Other modes are refused naming them.
 */
export function Resize(c: OpContext, ins: readonly (T | null)[]): T {
  const { tf, node: n } = c;
  const where = n.describe();
  const X = need(c, ins, 0);
  const values = (t: T | null | undefined): number[] => (t && t.size ? Array.from(t.dataSync() as ArrayLike<number>, Number) : []);
  const scales = values(c.opset < 11 ? ins[1] : ins[2]);
  const sizes = c.opset < 11 ? [] : values(ins[3]);
  if (X.rank !== 4) throw new UnsupportedError(`${where}: Resize of a rank-${X.rank} tensor is not supported by the differentiable executor (NCHW only)`);
  const out = sizes.length ? sizes : X.shape.map((d, k) => Math.floor(d * scales[k]));
  if (out.length !== 4 || out[0] !== X.shape[0] || out[1] !== X.shape[1]) throw new UnsupportedError(`${where}: Resize must keep the batch and channel axes in the differentiable executor`);
  if (scales.length && out.some((d, k) => d !== X.shape[k] * scales[k])) throw new UnsupportedError(`${where}: Resize to ${out.join('x')} is not the input times its scales exactly; the differentiable executor does not take it`);
  const limit = resizeLimit(n, c.opset);
  if (limit) throw new UnsupportedError(`${where}: Resize (${limit}) is not supported by the differentiable executor`);
  const mode = n.attrString('mode', 'nearest');
  const coords = n.attrString('coordinate_transformation_mode', c.opset < 11 ? 'asymmetric' : 'half_pixel');
  // half_pixel with round-half nearest picks ⌊dst / s⌋ as asymmetric floor does only when every factor s is a whole number ≥ 1: (dst + ½)/s − ½ lies strictly within ½ of it.
  if (mode === 'nearest' && coords === 'half_pixel' && !out.every((d, k) => d % X.shape[k] === 0)) throw new UnsupportedError(`${where}: Resize nearest half_pixel by a factor that is not a whole number is not supported by the differentiable executor`);
  const x = tf.transpose(X, [0, 2, 3, 1]) as Tensor4D;
  const size: [number, number] = [out[2], out[3]];
  const y = mode === 'nearest' ? tf.image.resizeNearestNeighbor(x, size, false, false) : tf.image.resizeBilinear(x, size, coords === 'align_corners', false);
  return tf.transpose(y, [0, 3, 1, 2]);
}

/**
 * What of Resize the executor does not take, from the attributes. Linear with half_pixel runs
 * forward in tfjs, but tfjs 4.22's ResizeBilinearGrad ignores half-pixel centres (its gradient
 * did not match finite differences), so it is refused here rather than trained wrongly.
 */
function resizeLimit(n: Node, opset: number): string | null {
  const mode = n.attrString('mode', 'nearest');
  const coords = n.attrString('coordinate_transformation_mode', opset < 11 ? 'asymmetric' : 'half_pixel');
  const nearest = n.attrString('nearest_mode', 'round_prefer_floor');
  if (mode === 'nearest') {
    if (coords === 'asymmetric' && (nearest === 'floor' || opset < 11)) return null;
    if (coords === 'half_pixel' && (nearest === 'round_prefer_floor' || nearest === 'round_prefer_ceil')) return null;
    return `nearest, ${coords}, ${nearest}`;
  }
  if (mode === 'linear' && (coords === 'align_corners' || coords === 'asymmetric')) return null;
  return `${mode}, ${coords}`;
}

/** What the executor cannot take of a Resize node, read before running (ops.ts opLimits). */
export const resizeLimits: Readonly<Record<string, OpLimit>> = { Resize: resizeLimit };

export const resizeOps: OpTable = {
  Resize: (c, i) => Resize(c, i),
};
