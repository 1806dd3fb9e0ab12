import { UnsupportedError } from '../../errors';
import { axisOf, need, OpTable, T, TF } from './types';

/** BatchNormalization in inference mode: (X - mean) / sqrt(var + epsilon) * scale + B, along axis 1. */
export function BatchNormalization(tf: TF, X: T, scale: T, B: T, mean: T, variance: T, { epsilon = 1e-5 }): T {
  const shape = X.shape.map((d, i) => (i === 1 ? d : 1));
  const r = (t: T) => tf.reshape(t, shape);
  const k = tf.div(r(scale), tf.sqrt(tf.add(r(variance), epsilon)));
  return tf.add(tf.mul(tf.sub(X, r(mean)), k), r(B));
}

/**
 * LayerNormalization (opset 17): normalizes over axes [axis, rank), population
 * variance; also returns Mean and InvStdDev (reduced axes kept as size 1).
 */
export function LayerNormalization(tf: TF, X: T, Scale: T, B: T | null, { axis = -1, epsilon = 1e-5 }): T[] {
  const a = axisOf(axis, X.rank);
  const axes = [...Array(X.rank).keys()].slice(a);
  const mean = tf.mean(X, axes, true);
  const centered = tf.sub(X, mean);
  const variance = tf.mean(tf.square(centered), axes, true);
  const inv = tf.rsqrt(tf.add(variance, epsilon));
  let y = tf.mul(tf.mul(centered, inv), Scale);
  if (B) y = tf.add(y, B);
  return [y, mean, inv];
}

export const normalizationOps: OpTable = {
  BatchNormalization: (c, i) => {
    if (c.node.attrInt('training_mode', 0)) throw new UnsupportedError(`${c.node.describe()}: training-mode BatchNormalization is not supported`);
    return BatchNormalization(c.tf, need(c, i, 0), need(c, i, 1), need(c, i, 2), need(c, i, 3), need(c, i, 4), { epsilon: c.node.attrFloat('epsilon', 1e-5) });
  },
  LayerNormalization: (c, i) => LayerNormalization(c.tf, need(c, i, 0), need(c, i, 1), i[2] ?? null, {
    axis: c.node.attrInt('axis', -1), epsilon: c.node.attrFloat('epsilon', 1e-5),
  }),
};
