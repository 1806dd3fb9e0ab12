import type { Optimizer as TfOptimizer, Variable } from '@tensorflow/tfjs';
import type { T, TF } from '../runtime/executor';

/**
 * Optimizers over tf.Variables. The update rules are tfjs's own (tf.train.sgd,
 * tf.train.momentum, tf.train.adam); AdamW, which tfjs lacks, is tf.train.adam plus
 * the decoupled decay of Loshchilov & Hutter 2019 ("Decoupled Weight Decay
 * Regularization", Algorithm 2), applied first as PyTorch's AdamW does:
 *     w ← w · (1 − lr·λ),  then the Adam step (which does not read w).
 * For sgd and adam, weight decay is the classic L2 term added to the gradient
 * (g ← g + λ·w), as in PyTorch's SGD and Adam.
 * The learning rate is set before each step (schedules); tfjs's Adam reads its
 * `learningRate` field at every step and has no setter, so it is written directly.
 */
export type OptimizerKind = 'sgd' | 'adam' | 'adamw';
export const OPTIMIZERS: readonly OptimizerKind[] = ['sgd', 'adam', 'adamw'];

export interface OptimizerOptions {
  kind: OptimizerKind;
  /** sgd: momentum (0: plain SGD). */
  momentum: number;
  weightDecay: number;
  /** Adam's β1, β2 and ε (defaults 0.9, 0.999, 1e-7: Keras's, which tfjs uses). */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface Optimizer {
  /** One update of `vars` by `grads` (same order) at learning rate `lr`. Does not dispose the grads. */
  step(vars: readonly Variable[], grads: readonly T[], lr: number): void;
  dispose(): void;
}

export function makeOptimizer(tf: TF, o: OptimizerOptions): Optimizer {
  const inner: TfOptimizer = o.kind === 'sgd'
    ? (o.momentum > 0 ? tf.train.momentum(1, o.momentum) : tf.train.sgd(1))
    : tf.train.adam(1, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.epsilon ?? 1e-7);
  const setLr = (lr: number): void => {
    if ('setLearningRate' in inner && typeof inner.setLearningRate === 'function') (inner as { setLearningRate(lr: number): void }).setLearningRate(lr);
    else (inner as unknown as { learningRate: number }).learningRate = lr;
  };
  const decoupled = o.kind === 'adamw';
  return {
    step(vars, grads, lr) {
      setLr(lr);
      tf.tidy(() => {
        if (decoupled && o.weightDecay > 0) for (const v of vars) v.assign(tf.mul(v, 1 - lr * o.weightDecay));
        const named = vars.map((v, i) => ({
          name: v.name,
          tensor: !decoupled && o.weightDecay > 0 ? tf.add(grads[i], tf.mul(v, o.weightDecay)) : grads[i],
        }));
        inner.applyGradients(named);
      });
    },
    dispose: () => inner.dispose(),
  };
}
