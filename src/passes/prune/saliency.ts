import { mulberry32 } from '../../util/prng';
import type { Scalar } from '@tensorflow/tfjs';
import { UnsupportedError, UsageError } from '../../errors';
import type { Model, Value } from '../../ir';
import type { Batch, Dataset, InputSpec, Labels } from '../../data';
import { validateAgainst, checkLabelCount } from '../../data';
import type { T, TF } from '../../runtime/executor';
import type { DifferentiableModel } from '../../runtime/tfjs-grad';
import { channelGate, type ChannelGate } from './gate';
import { openGradModel, outputIsProbabilities } from './gradients';
import type { PruneTarget, TargetScores } from './types';

/**
 * First-order Taylor saliency (Molchanov et al., "Pruning Convolutional Neural
 * Networks for Resource Efficient Inference", 2017; "Importance Estimation for
 * Neural Network Pruning", CVPR 2019). Removing weight w changes the loss by about
 * -w * dL/dw, so:
 *   element importance  I(w)  = sum over mini-batches of |w * g|
 *   channel importance  I(c)  = sum over mini-batches of (sum_{p in gate c} p * g_p)^2
 * with g the mini-batch mean gradient. The channel form is the 2019 gate form
 * (gate.ts): the gate sits where channel removal cuts, after the BatchNormalization
 * that follows a Conv (p = its gamma_c, beta_c), else on the layer's output
 * including its bias (p = filter c and bias c). Squaring per mini-batch keeps the
 * signal that the signed sum over the whole data set would cancel.
 *
 * Loss: with labels, cross-entropy against them. Without labels, the obvious
 * self-distillation loss KL(p_float || p_model) has an exactly zero gradient at the
 * unpruned point, so it carries no information. We use the Fisher form instead:
 * labels are sampled from the model's own softmax (seeded, so runs are repeatable)
 * and squared contributions are accumulated: element (w * g)^2, channel
 * (gate sum)^2. In expectation this is the diagonal (resp. group) Fisher term,
 * which is the curvature of that same KL at the unpruned point - the second-order
 * estimate of the damage a removal does to the model's output distribution.
 *
 * Gradients: ONNX models run on mc's differentiable executor; tfjs layers- and
 * graph-models on stock tfjs (runtime/tfjs-grad.ts). Both give dL/dw in the IR
 * weight's layout, so the scores below are computed by the same code for both.
 */
export interface SaliencyOptions {
  tf: TF;
  data: Dataset;
  labels?: Labels;
  /** Samples to use (from the start of the data). */
  samples: number;
  /** Mini-batch size for one gradient; the group form sums squares over these. */
  batchSize: number;
  channel: boolean;
  progress?: (message: string) => void;
}

export async function saliencyScores(model: Model, targets: readonly PruneTarget[], o: SaliencyOptions): Promise<Map<Value, TargetScores>> {
  if (o.channel && model.format !== 'onnx') throw new UnsupportedError('channel pruning is for ONNX models only; tfjs models take --pattern unstructured or n:m');
  const inputs: InputSpec[] = model.graph.inputs.filter((v) => !v.const).map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] }));
  validateAgainst(o.data, inputs);
  if (o.labels) checkLabelCount(o.labels, o.data);
  if (!targets.length) return new Map(); // every layer excluded: nothing to differentiate
  const tf = o.tf;
  // Channel: differentiate every parameter of every gate (each once); element: the weights themselves.
  const gates = o.channel ? targets.map((t) => channelGate(model, t)) : [];
  const wrt = o.channel ? [...new Set(gates.flatMap((g) => g.terms.map((p) => p.value)))] : targets.map((t) => t.value);
  const slot = new Map<Value, number>(wrt.map((v, i) => [v, i]));
  const gm = await openGradModel(tf, model, wrt);
  const acc = targets.map((t) => (o.channel ? new Float64Array(t.value.const!.shape[t.outAxis]) : new Float32Array(t.value.const!.size)));
  const probabilities = outputIsProbabilities(model);
  const logProbs = (out: T): T => (probabilities ? tf.log(tf.add(out, 1e-12)) : tf.logSoftmax(out));
  const rng = mulberry32(0x5eed);
  const labelIter = o.labels?.batches(o.batchSize, o.samples)[Symbol.iterator]();
  let seen = 0;
  const cache: { classes?: number } = {};
  try {
    for (const batch of o.data.batches(o.batchSize, o.samples)) {
      const feeds = toFeeds(tf, batch);
      let ids: Int32Array;
      if (labelIter) {
        const lb = labelIter.next();
        if (lb.done) throw new UsageError('labels ran out before the data');
        ids = lb.value.ids;
      } else {
        ids = sampleLabels(tf, gm, feeds, logProbs, rng);
      }
      const classes = classesOf(tf, gm, feeds, ids, cache);
      const oneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(ids, 'int32'), classes));
      const loss = (out: T): Scalar => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs(out)), -1))) as Scalar;
      const grads = gm.grads(feeds, loss);
      targets.forEach((t, i) => {
        const a = acc[i];
        if (o.channel) {
          const s = gateSums(tf, gates[i], (v) => [gm.weights[slot.get(v)!], grads[slot.get(v)!]]);
          for (let c = 0; c < a.length; c++) a[c] += s[c] * s[c];
          return;
        }
        tf.tidy(() => {
          const s = tf.mul(gm.weights[i], grads[i]).dataSync();
          if (o.labels) for (let k = 0; k < a.length; k++) a[k] += Math.abs(s[k]);
          else for (let k = 0; k < a.length; k++) a[k] += s[k] * s[k];
        });
      });
      tf.dispose([...grads, oneHot, ...Object.values(feeds)]);
      seen += batch.count;
      o.progress?.(`saliency: ${seen}/${Math.min(o.samples, o.data.count)} samples`);
    }
  } finally {
    gm.dispose();
  }
  if (seen === 0) throw new UsageError('saliency needs at least one sample of data');
  const out = new Map<Value, TargetScores>();
  targets.forEach((t, i) => out.set(t.value, o.channel ? { channel: acc[i] as Float64Array } : { element: acc[i] as Float32Array }));
  return out;
}

/** One mini-batch's gate term per channel: sum over the gate's parameters p of p * dL/dp, summed within each channel. */
function gateSums(tf: TF, gate: ChannelGate, paramAndGrad: (v: Value) => [T, T]): Float64Array {
  const sum = tf.tidy(() => {
    let acc: T | undefined;
    for (const { value, axis } of gate.terms) {
      const [p, g] = paramAndGrad(value);
      const pg = tf.mul(p, g);
      const s = tf.sum(pg, [...Array(pg.rank).keys()].filter((k) => k !== axis));
      acc = acc ? tf.add(acc, s) : s;
    }
    return acc!;
  });
  const out = Float64Array.from(sum.dataSync());
  sum.dispose();
  return out;
}

function toFeeds(tf: TF, batch: Batch): Record<string, T> {
  const feeds: Record<string, T> = {};
  for (const [name, b] of batch.inputs) {
    const data = b.data instanceof Float32Array ? b.data : Float32Array.from(b.data as ArrayLike<number>, Number);
    feeds[name] = tf.tensor(data, b.shape, 'float32');
  }
  return feeds;
}

/** Number of classes: the width of the first output (computed once per run, cached in `cache`). */
function classesOf(tf: TF, gm: DifferentiableModel, feeds: Record<string, T>, ids: Int32Array, cache: { classes?: number }): number {
  if (cache.classes === undefined) {
    const out = gm.predict(feeds);
    cache.classes = out.shape[out.rank - 1];
    tf.dispose(out);
  }
  const k = cache.classes;
  for (const id of ids) if (id < 0 || id >= k) throw new UsageError(`label ${id} is out of range for ${k} classes`);
  return k;
}

/** Labels drawn from the model's own predictive distribution (Fisher sampling). */
function sampleLabels(tf: TF, gm: DifferentiableModel, feeds: Record<string, T>, logProbs: (t: T) => T, rng: () => number): Int32Array {
  const out = gm.predict(feeds);
  const p = tf.tidy(() => tf.exp(logProbs(out)));
  const [n, k] = [p.shape[0], p.shape[p.rank - 1]];
  const probs = p.dataSync();
  tf.dispose([out, p]);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let u = rng();
    let c = 0;
    for (; c < k - 1; c++) {
      u -= probs[i * k + c];
      if (u < 0) break;
    }
    ids[i] = c;
  }
  return ids;
}
