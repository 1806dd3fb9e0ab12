import type { Model, Node, Value } from '../ir';
import type { BatchStatsHook, T, TF } from '../runtime/executor';
import { bnStatsOwned, setFloat } from './batchnorm';

/** How BatchNormalization behaves while training (--bn-mode). */
export const BN_MODES = ['frozen', 'train'] as const;
export type BnMode = (typeof BN_MODES)[number];

/**
 * BatchNormalization trained with batch statistics (`--bn-mode train`, PyTorch's
 * model.train(), Keras fit): during a training step each inference-form
 * BatchNormalization whose mean and variance are float32 constants of its own
 * normalizes with its batch's mean and population variance (the executor's
 * BatchNormalizationBatchStats; gradients flow through them), and its running
 * statistics follow the ONNX training-mode update with the node's own `momentum`
 * attribute (default 0.9):
 *
 *   running_mean = running_mean · momentum + batch_mean · (1 − momentum)
 *   running_var  = running_var  · momentum + batch_var  · (1 − momentum)   (population variance, as the ONNX spec)
 *
 * Inference (validation, the written model) uses the running statistics. The update is
 * in float64 over float32 batch statistics, in step order, so a seed gives the same bytes.
 */
export class RunningBatchNorm implements BatchStatsHook {
  readonly nodes: readonly Node[];
  private readonly mean = new Map<Node, Float64Array>();
  private readonly variance = new Map<Node, Float64Array>();

  constructor(model: Model) {
    this.nodes = model.graph.nodes.filter((n) => n.opType === 'BatchNormalization' && n.outputs.length === 1 && !n.attrInt('training_mode', 0) && bnStatsOwned(n));
    for (const n of this.nodes) {
      this.mean.set(n, Float64Array.from(n.inputs[3]!.const!.toFloat32()));
      this.variance.set(n, Float64Array.from(n.inputs[4]!.const!.toFloat32()));
    }
  }

  has(node: Node): boolean {
    return this.mean.has(node);
  }

  update(node: Node, bm: Float32Array, bv: Float32Array): void {
    const m = node.attrFloat('momentum', 0.9);
    const rm = this.mean.get(node)!;
    const rv = this.variance.get(node)!;
    for (let c = 0; c < rm.length; c++) {
      rm[c] = rm[c] * m + bm[c] * (1 - m);
      rv[c] = rv[c] * m + bv[c] * (1 - m);
    }
  }

  /** The running statistics as tensors at the constants they replace (for an inference run). The caller disposes them. */
  overrides(tf: TF): Map<Value, T> {
    const out = new Map<Value, T>();
    for (const n of this.nodes) {
      out.set(n.inputs[3]!, tf.tensor1d(Float32Array.from(this.mean.get(n)!)));
      out.set(n.inputs[4]!, tf.tensor1d(Float32Array.from(this.variance.get(n)!)));
    }
    return out;
  }

  /** A copy of the running statistics, and the function that puts them back (the learning-rate range test's steps are undone). */
  save(): () => void {
    const copy = (s: Map<Node, Float64Array>) => new Map([...s].map(([n, a]) => [n, Float64Array.from(a)] as const));
    const mean = copy(this.mean);
    const variance = copy(this.variance);
    return () => {
      for (const [n, a] of mean) this.mean.get(n)!.set(a);
      for (const [n, a] of variance) this.variance.get(n)!.set(a);
    };
  }

  /** Writes the running statistics into the IR constants; returns the values written. */
  writeBack(): Value[] {
    const out: Value[] = [];
    for (const n of this.nodes) {
      for (const [i, s] of [[3, this.mean], [4, this.variance]] as const) {
        const v = n.inputs[i]!;
        setFloat(v.const!, Float32Array.from(s.get(n)!));
        out.push(v);
      }
    }
    return out;
  }
}
