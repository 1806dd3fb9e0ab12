import type { Model, Node } from '../ir';
import { Tensor } from '../ir';
import { Executor } from '../runtime/executor';
import type { T, TF } from '../runtime/executor';
import { batchesOf, type TrainingSet } from './data';

/**
 * Re-estimates the statistics (mean, variance) of every inference-form
 * BatchNormalization on the training data before fine-tuning: "adaptive BN"
 * (Li et al., "EagleEye: Fast Sub-net Evaluation for Efficient Neural Network
 * Pruning", ECCV 2020), whose point is that after pruning the stored running
 * statistics describe the dense network's activations, not the pruned one's.
 * Training then keeps them frozen (the executor runs BN in inference form).
 *
 * The nodes are done in graph order, one forward pass over the training set each, so
 * every BN sees inputs produced with the statistics already re-estimated upstream.
 * Per channel c (axis 1): mean = E[x], var = E[x²] − E[x]² (population variance, as
 * the inference formula divides by √(var + ε)), accumulated in float64 from per-batch
 * float32 sums. Statistics shared with another node are left alone. Returns the names
 * of the nodes re-estimated.
 */
export function recalibrateBatchNorm(tf: TF, model: Model, data: TrainingSet, batchSize: number): string[] {
  const nodes = model.graph.nodes.filter((n) => n.opType === 'BatchNormalization' && n.outputs.length === 1 && bnStatsOwned(n));
  const done: string[] = [];
  const all = new Uint32Array(data.count).map((_, i) => i);
  for (const bn of nodes) {
    const x = bn.inputs[0]!;
    const ex = new Executor(model, tf);
    let sum: Float64Array | null = null;
    let sq: Float64Array | null = null;
    let count = 0;
    try {
      for (const idx of batchesOf(all, batchSize)) {
        const b = data.batch(tf, idx);
        const outs = ex.run(b.feeds, {
          observe: (v, t: T) => {
            if (v !== x) return;
            const axes = [...Array(t.rank).keys()].filter((a) => a !== 1);
            const [s, q] = tf.tidy(() => [tf.sum(t, axes).dataSync(), tf.sum(tf.square(t), axes).dataSync()]);
            sum ??= new Float64Array(s.length);
            sq ??= new Float64Array(s.length);
            for (let c = 0; c < s.length; c++) {
              sum[c] += s[c];
              sq[c] += q[c];
            }
            count += t.size / s.length;
          },
        });
        tf.dispose([...outs, ...Object.values(b.feeds)]);
      }
    } finally {
      ex.dispose();
    }
    if (!sum || !sq || !count) continue;
    const s = sum as Float64Array;
    const q = sq as Float64Array;
    const mean = Float32Array.from(s, (v) => v / count);
    const variance = Float32Array.from(q, (v, c) => Math.max(0, v / count - (s[c] / count) ** 2));
    setFloat(bn.inputs[3]!.const!, mean);
    setFloat(bn.inputs[4]!.const!, variance);
    done.push(bn.name);
  }
  return done;
}

/** Replaces a float32 constant's data (same shape). */
export function setFloat(t: Tensor, data: Float32Array): void {
  t.setData('float32', [...t.shape], { kind: 'bytes', bytes: new Uint8Array(data.buffer) });
}

/** Mean and variance are float32 constants read by this node only. */
export function bnStatsOwned(n: Node): boolean {
  return [3, 4].every((i) => {
    const v = n.inputs[i];
    return !!v?.const && v.const.dtype === 'float32' && v.uses.length === 1;
  });
}
