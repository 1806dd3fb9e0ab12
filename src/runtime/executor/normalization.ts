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
 * BatchNormalization with the batch's own statistics (training; PyTorch's model.train()):
 * mean and population variance per channel over every axis but 1, which the gradient
 * flows through. Returns them with the output, for the running statistics.
 */
export function BatchNormalizationBatchStats(tf: TF, X: T, scale: T, B: T, { epsilon = 1e-5 }): { y: T; mean: T; variance: T; count: number } {
  const axes = [...Array(X.rank).keys()].filter((a) => a !== 1);
  const { mean, variance } = tf.moments(X, axes);
  return { y: BatchNormalization(tf, X, scale, B, mean, variance, { epsilon }), mean, variance, count: X.size / (X.shape[1] ?? 1) };
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
    const epsilon = c.node.attrFloat('epsilon', 1e-5);
    if (c.batchStats?.has(c.node)) {
      const r = BatchNormalizationBatchStats(c.tf, need(c, i, 0), need(c, i, 1), need(c, i, 2), { epsilon });
      if (r.count < 2) throw new UnsupportedError(`${c.node.describe()}: batch statistics need more than 1 value per channel, and this batch has ${r.count} (use a larger --batch-size, or --bn-mode frozen)`);
      c.batchStats.update(c.node, r.mean, r.variance, r.count);
      return r.y;
    }
    return BatchNormalization(c.tf, need(c, i, 0), need(c, i, 1), need(c, i, 2), need(c, i, 3), need(c, i, 4), { epsilon });
  },
  LayerNormalization: (c, i) => LayerNormalization(c.tf, need(c, i, 0), need(c, i, 1), i[2] ?? null, {
    axis: c.node.attrInt('axis', -1), epsilon: c.node.attrFloat('epsilon', 1e-5),
  }),
};
