import type { Variable } from '@tensorflow/tfjs';
import type { T, TF } from '../runtime/executor';

/**
 * Pruned zeros stay exactly zero: each trained weight that holds exact zeros gets a
 * 0/1 mask (1 where the weight is non-zero), the gradient is multiplied by it before
 * the optimizer step, and the weight is multiplied by it after (momentum and decoupled
 * decay could otherwise move a zero). An exact float zero in a trained weight is what a
 * pruner leaves; n:m layouts keep their zeros, so they stay valid, and channel pruning
 * removed the channels, so shapes never change.
 */
export class WeightMasks {
  private constructor(private readonly tf: TF, private readonly masks: (T | null)[], readonly zeros: number) {}

  static of(tf: TF, vars: readonly Variable[]): WeightMasks {
    let zeros = 0;
    const masks = vars.map((v) => {
      const d = v.dataSync() as Float32Array;
      let z = 0;
      for (let i = 0; i < d.length; i++) if (d[i] === 0) z++;
      if (!z) return null;
      zeros += z;
      const m = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) m[i] = d[i] === 0 ? 0 : 1;
      return tf.keep(tf.tensor(m, v.shape, 'float32'));
    });
    return new WeightMasks(tf, masks, zeros);
  }

  /** The gradients with masked entries zeroed (new tensors where masked; the inputs are disposed). */
  maskGrads(grads: T[]): T[] {
    return grads.map((g, i) => {
      const m = this.masks[i];
      if (!m) return g;
      const out = this.tf.mul(g, m);
      g.dispose();
      return out;
    });
  }

  /** Re-zeroes the masked entries of the weights. */
  apply(vars: readonly Variable[]): void {
    this.tf.tidy(() => vars.forEach((v, i) => {
      const m = this.masks[i];
      if (m) v.assign(this.tf.mul(v, m));
    }));
  }

  dispose(): void {
    for (const m of this.masks) m?.dispose();
  }
}
