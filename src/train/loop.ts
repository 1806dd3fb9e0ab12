import type { Scalar } from '@tensorflow/tfjs';
import { McError } from '../errors';
import type { T, TF } from '../runtime/executor';
import { batchesOf, epochOrder, TrainingSet } from './data';
import { batchLoss, type LossOptions } from './losses';
import { lrRangeTest, type LrFindResult } from './lr-find';
import { WeightMasks } from './masks';
import { isPruningStep, polynomialSparsity, pruneMagnitude, type GradualPruning } from './gradual';
import { makeOptimizer, type OptimizerOptions } from './optimizers';
import { makeSchedule, type ScheduleKind } from './schedules';
import type { Predictor, Trainable } from './trainable';

/** The loss turned NaN or infinite: training stops and nothing is written. */
export class TrainingDivergedError extends McError {
  override readonly exitCode = 1;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerOptions;
  /** A rate, or 'find': the range test picks it first (the weights are restored after it). */
  lr: number | 'find';
  schedule: ScheduleKind;
  /** Warmup as a fraction of all steps. */
  warmup: number;
  loss: LossOptions;
  seed: number;
  /** Validation: accuracy of the first output's argmax against ids, per epoch. */
  validation?: { set: TrainingSet };
  /** Stop after this many epochs without a better validation metric. */
  earlyStop?: number;
  onStep?: (s: StepInfo) => void;
  /** Gradual magnitude pruning of model.vars[i] for i in `vars` (global over them), re-pruned on schedule. */
  gradual?: GradualPruning & { vars: readonly number[] };
}

export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  lr: number;
  examplesPerSecond: number;
  etaSeconds: number;
}

export interface EpochLog {
  epoch: number;
  loss: number;
  lr: number;
  /** Validation top-1 accuracy, when validation data was given. */
  valAccuracy?: number;
  seconds: number;
}

export interface FitResult {
  epochs: EpochLog[];
  steps: number;
  lr: number;
  lrFind?: LrFindResult;
  maskedZeros: number;
  stoppedEarly: boolean;
}

/**
 * The training loop: per epoch a seeded shuffle, mini-batches gathered from the
 * in-memory training set, the loss against the teacher's outputs and/or the labels,
 * masked gradients, one optimizer step at the scheduled rate, masks re-applied.
 */
export function fit(tf: TF, model: Trainable, teacher: Predictor | null, train: TrainingSet, o: FitOptions): FitResult {
  const needsTeacher = o.loss.kind !== 'ce';
  if (needsTeacher && !teacher) throw new Error(`loss ${o.loss.kind} needs a teacher`);
  let masks = WeightMasks.of(tf, model.vars);
  const stepsPerEpoch = Math.ceil(train.count / o.batchSize);
  const totalSteps = stepsPerEpoch * o.epochs;
  const lossOf = (feeds: Record<string, T>, ids: Int32Array | null) => {
    const t = needsTeacher ? teacher!.predict(feeds) : null;
    return { t, f: (out: T): Scalar => batchLoss(tf, o.loss, out, t, ids) };
  };
  const stepOnce = (opt: ReturnType<typeof makeOptimizer>, indices: ArrayLike<number>, lr: number): number => {
    const b = train.batch(tf, indices);
    const { t, f } = lossOf(b.feeds, b.ids);
    try {
      const { loss, grads } = model.lossAndGrads(b.feeds, f);
      if (Number.isFinite(loss)) {
        const masked = masks.maskGrads(grads);
        opt.step(model.vars, masked, lr);
        tf.dispose(masked);
        masks.apply(model.vars);
      } else {
        tf.dispose(grads);
      }
      return loss;
    } finally {
      tf.dispose(Object.values(b.feeds));
      t?.dispose();
    }
  };

  try {
    let lrFind: LrFindResult | undefined;
    let baseLr: number;
    if (o.lr === 'find') {
      const saved = model.vars.map((v) => tf.keep(tf.clone(v)));
      const restoreState = model.saveState();
      const opt = makeOptimizer(tf, o.optimizer);
      const order = epochOrder(train.count, o.seed, -1);
      // Gradual pruning: the student starts as its teacher, so the loss has nothing to fall from; the rate
      // must recover what pruning takes, so the test runs on the weights pruned to the final sparsity.
      const atFinal = (): void => {
        pruneMagnitude(tf, o.gradual!.vars.map((i) => model.vars[i]), o.gradual!.final, o.gradual!.scope, o.gradual!.minDensity);
        masks.dispose();
        masks = WeightMasks.of(tf, model.vars);
      };
      if (o.gradual) atFinal();
      try {
        lrFind = lrRangeTest((lr, i) => {
          const s = (i * o.batchSize) % Math.max(1, train.count - o.batchSize + 1);
          return stepOnce(opt, order.subarray(s, Math.min(train.count, s + o.batchSize)), lr);
        });
      } finally {
        opt.dispose();
        model.vars.forEach((v, i) => v.assign(saved[i]));
        tf.dispose(saved);
        restoreState();
        if (o.gradual) {
          masks.dispose();
          masks = WeightMasks.of(tf, model.vars);
        }
      }
      if (lrFind.lr === null) throw new TrainingDivergedError('--lr find: the loss never decreased over the range test; give --lr');
      baseLr = lrFind.lr;
    } else {
      baseLr = o.lr;
    }

    const schedule = makeSchedule({ kind: o.schedule, baseLr, totalSteps, warmupSteps: Math.round(o.warmup * totalSteps) });
    const opt = makeOptimizer(tf, o.optimizer);
    const epochs: EpochLog[] = [];
    let step = 0;
    let best = -Infinity;
    let sinceBest = 0;
    let stoppedEarly = false;
    const started = Date.now();
    let examples = 0;
    try {
      for (let epoch = 0; epoch < o.epochs; epoch++) {
        const t0 = Date.now();
        let sum = 0;
        let n = 0;
        let lr = baseLr;
        for (const idx of batchesOf(epochOrder(train.count, o.seed, epoch), o.batchSize)) {
          lr = schedule.at(step);
          if (o.gradual && isPruningStep(step, o.gradual)) {
            pruneMagnitude(tf, o.gradual.vars.map((i) => model.vars[i]), polynomialSparsity(step, o.gradual), o.gradual.scope, o.gradual.minDensity);
            masks.dispose();
            masks = WeightMasks.of(tf, model.vars);
          }
          const loss = stepOnce(opt, idx, lr);
          if (!Number.isFinite(loss)) throw new TrainingDivergedError(`the loss became ${loss} at step ${step + 1} (epoch ${epoch + 1}) with learning rate ${lr.toPrecision(3)}; nothing written (lower --lr, or look for NaN/Inf in the training data)`);
          sum += loss * idx.length;
          n += idx.length;
          examples += idx.length;
          step++;
          const secs = (Date.now() - started) / 1000;
          const eps = examples / Math.max(secs, 1e-3);
          o.onStep?.({ epoch, step: step - epoch * stepsPerEpoch, stepsPerEpoch, loss, lr, examplesPerSecond: eps, etaSeconds: ((totalSteps - step) * o.batchSize) / eps });
        }
        const log: EpochLog = { epoch: epoch + 1, loss: sum / n, lr, seconds: (Date.now() - t0) / 1000 };
        if (o.validation) log.valAccuracy = accuracy(tf, model, o.validation.set, o.batchSize);
        epochs.push(log);
        const metric = log.valAccuracy ?? -log.loss;
        schedule.endEpoch(metric);
        if (metric > best) {
          best = metric;
          sinceBest = 0;
        } else if (o.earlyStop !== undefined && ++sinceBest >= o.earlyStop) {
          stoppedEarly = epoch + 1 < o.epochs;
          break;
        }
      }
    } finally {
      opt.dispose();
    }
    return { epochs, steps: step, lr: baseLr, lrFind, maskedZeros: masks.zeros, stoppedEarly };
  } finally {
    masks.dispose();
  }
}

/** Top-1 accuracy of the model's first output (argmax over the last axis) on a labelled set. */
export function accuracy(tf: TF, model: { predict(feeds: Readonly<Record<string, T>>): T }, set: TrainingSet, batchSize: number): number {
  if (!set.ids) throw new Error('validation data needs labels');
  let right = 0;
  const all = new Uint32Array(set.count).map((_, i) => i);
  for (const idx of batchesOf(all, batchSize)) {
    const b = set.batch(tf, idx);
    const out = model.predict(b.feeds);
    const pred = tf.tidy(() => tf.argMax(tf.reshape(out, [b.count, -1]), -1).dataSync() as Int32Array);
    for (let i = 0; i < b.count; i++) if (pred[i] === b.ids![i]) right++;
    out.dispose();
    tf.dispose(Object.values(b.feeds));
  }
  return right / set.count;
}
