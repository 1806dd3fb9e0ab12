import type { Scalar } from '@tensorflow/tfjs';
import type { T, TF } from '../runtime/executor';

/**
 * Training losses on a batch of outputs [N, ...]. All are means over the batch.
 *
 *  - kd: Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network":
 *        T² · KL(softmax(t/T) ‖ softmax(s/T)) = T² · Σ p_t (log p_t − log p_s), the T²
 *        keeping the gradient's scale independent of T (the soft targets' gradients
 *        scale as 1/T²). The teacher term log p_t is a constant, kept so the loss is 0
 *        exactly when the student matches.
 *  - ce: softmax cross-entropy against class ids.
 *  - kd+ce: α·kd + (1 − α)·ce (α = 0.5 by default).
 *  - mse: mean squared error against the teacher's outputs, for outputs that are not
 *        class scores.
 * Classes are along the last axis. `probabilities` says the model's output is already
 * a softmax, in which case logits are recovered as log(p) (softmax(log p / T) is p^(1/T)
 * renormalized, the tempered distribution); `teacherProbabilities` says the same of the
 * teacher's output (default: as the student's). Where the logits are reachable, training
 * reads them instead (train/outputs.ts).
 */
export type LossKind = 'kd' | 'ce' | 'kd+ce' | 'mse';
export const LOSSES: readonly LossKind[] = ['kd', 'ce', 'kd+ce', 'mse'];

export interface LossOptions {
  kind: LossKind;
  temperature: number;
  /** kd+ce: weight of the distillation term. */
  alpha?: number;
  probabilities?: boolean;
  teacherProbabilities?: boolean;
}

export function logitsOf(tf: TF, out: T, probabilities: boolean): T {
  return probabilities ? tf.log(tf.add(out, 1e-12)) : out;
}

/** T² · KL(softmax(t/T) ‖ softmax(s/T)), mean over all rows (every axis but the last). */
export function kdLoss(tf: TF, student: T, teacher: T, temperature: number): Scalar {
  return tf.tidy(() => {
    const c = student.shape[student.rank - 1];
    const s = tf.reshape(student, [-1, c]);
    const t = tf.reshape(teacher, [-1, c]);
    const logPs = tf.logSoftmax(tf.div(s, temperature));
    const logPt = tf.logSoftmax(tf.div(t, temperature));
    const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
    return tf.mul(tf.mean(kl), temperature * temperature) as Scalar;
  });
}

/** Softmax cross-entropy against class ids (one id per row). */
export function ceLoss(tf: TF, student: T, ids: Int32Array): Scalar {
  return tf.tidy(() => {
    const c = student.shape[student.rank - 1];
    const s = tf.reshape(student, [-1, c]);
    const oneHot = tf.oneHot(tf.tensor1d(ids, 'int32'), c);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(s)), -1))) as Scalar;
  });
}

export function mseLoss(tf: TF, student: T, teacher: T): Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(student, teacher)) as Scalar);
}

/** The loss of one batch: the student's output, the teacher's (kd, mse) and the labels (ce). */
export function batchLoss(tf: TF, o: LossOptions, student: T, teacher: T | null, ids: Int32Array | null): Scalar {
  const s = logitsOf(tf, student, o.probabilities === true);
  const t = teacher && logitsOf(tf, teacher, (o.teacherProbabilities ?? o.probabilities) === true);
  const need = <X>(x: X | null, what: string): X => {
    if (x === null) throw new Error(`loss ${o.kind} needs ${what}`);
    return x;
  };
  switch (o.kind) {
    case 'kd': return kdLoss(tf, s, need(t, 'teacher outputs'), o.temperature);
    case 'ce': return ceLoss(tf, s, need(ids, 'labels'));
    case 'mse': return mseLoss(tf, student, need(teacher, 'teacher outputs'));
    case 'kd+ce': {
      const a = o.alpha ?? 0.5;
      return tf.tidy(() => tf.add(tf.mul(kdLoss(tf, s, need(t, 'teacher outputs'), o.temperature), a), tf.mul(ceLoss(tf, s, need(ids, 'labels')), 1 - a)) as Scalar);
    }
  }
}
