import type { Tensor4D } from '@tensorflow/tfjs';
import { UnsupportedError } from '../../errors';
import type { Node } from '../../ir';
import { need, OpContext, OpLimit, OpTable, T, TF } from './types';

/**
 * ONNX ConvTranspose (NCHW, W [C, M, kH, kW]) on tfjs's conv2dTranspose (NHWC, filter
 * [kH, kW, M, C]), 2-D, group 1, dilations 1, explicit pads and output_padding (auto_pad
 * NOTSET; output_shape not given). The full output, stride·(H − 1) + output_padding + k,
 * is computed with 'valid' padding, then the pads are cut from each side. Its gradients
 * are tfjs's (Conv2DBackpropInput's: a conv and a filter gradient).
 */
export function ConvTranspose(tf: TF, X: T, W: T, B: T | null, c: OpContext): T {
  const n = c.node;
  const where = n.describe();
  if (X.rank !== 4) throw new UnsupportedError(`${where}: ConvTranspose with ${X.rank - 2} spatial dimensions is not supported by the differentiable executor`);
  const limit = convTransposeLimit(n);
  if (limit) throw new UnsupportedError(`${where}: ConvTranspose with ${limit} is not supported by the differentiable executor`);
  const [kH, kW] = W.shape.slice(2);
  const [sH, sW] = n.attrInts('strides', [1, 1]);
  const [t, l, b, r] = n.attrInts('pads', [0, 0, 0, 0]);
  const [opH, opW] = n.attrInts('output_padding', [0, 0]);
  const [N, , H, Wd] = X.shape as [number, number, number, number];
  const M = W.shape[1] as number;
  const fullH = sH * (H - 1) + kH + opH;
  const fullW = sW * (Wd - 1) + kW + opW;
  const x = tf.transpose(X, [0, 2, 3, 1]) as Tensor4D;
  const w = tf.transpose(W, [2, 3, 1, 0]) as Tensor4D; // [kH, kW, M, C]
  let y: T = tf.conv2dTranspose(x, w, [N, fullH, fullW, M], [sH, sW], 'valid');
  if (t || l || b || r) y = tf.slice(y, [0, t, l, 0], [N, fullH - t - b, fullW - l - r, M]);
  if (B) y = tf.add(y, tf.reshape(B, [1, 1, 1, M]));
  return tf.transpose(y, [0, 3, 1, 2]);
}

/** What of ConvTranspose the executor does not take, from the node alone (null: nothing). */
function convTransposeLimit(n: Node): string | null {
  const kernel = n.attributes.has('kernel_shape') ? n.attrInts('kernel_shape') : n.inputs[1]?.shape?.slice(2);
  if (kernel && kernel.length !== 2) return `${kernel.length}-D`;
  if (n.attrInt('group', 1) !== 1) return `group ${n.attrInt('group', 1)}`;
  if (n.attrInts('dilations', [1, 1]).some((d) => d !== 1)) return 'dilations';
  if (n.attrString('auto_pad', 'NOTSET') !== 'NOTSET') return `auto_pad ${n.attrString('auto_pad')}`;
  return n.attributes.has('output_shape') ? 'output_shape' : null;
}

/** What the executor cannot take of a ConvTranspose node, read before running (ops.ts opLimits). */
export const convTransposeLimits: Readonly<Record<string, OpLimit>> = { ConvTranspose: convTransposeLimit };

export const convTransposeOps: OpTable = {
  ConvTranspose: (c, i) => ConvTranspose(c.tf, need(c, i, 0), need(c, i, 1), i[2] ?? null, c),
};
