/**
 * The training building blocks against PyTorch 1.13 (test/train/torch_oracle.py, run by
 * Debian's /usr/bin/python3 as an oracle only; skipped loudly without torch) and against
 * transcriptions of their formulas: schedules, optimizers, losses, the range test's pick,
 * the seeded epoch order.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ORACLE_PYTHON, requirePython } from '../helpers/require-dep';
import { annealCos, batchLoss, epochOrder, lrRangeTest, makeOptimizer, makeSchedule, rangeRate, steepest, type LrFindPoint } from '../../src/train';

const PY = ORACLE_PYTHON;
const torch = requirePython('torch', ['torch'], 'python3-torch');
const withTorch = torch.test;

const S = 50;
const BASE = 0.01;
const rnd = (() => {
  let a = 7;
  return () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296) - 0.5;
})();
const W0 = Array.from({ length: 6 }, () => rnd());
const GRADS = Array.from({ length: 5 }, () => Array.from({ length: 6 }, () => rnd()));
const STUDENT = Array.from({ length: 4 }, () => Array.from({ length: 10 }, () => 3 * rnd()));
const TEACHER = Array.from({ length: 4 }, () => Array.from({ length: 10 }, () => 3 * rnd()));
const IDS = [1, 4, 9, 0];

interface Oracle {
  onecycle: number[]; cosine: number[]; step: number[];
  optim: Record<'sgd' | 'adam' | 'adamw', number[]>;
  kd: number; ce: number;
}
let oracle: Oracle;

beforeAll(async () => {
  await tf.setBackend('cpu');
  if (!torch.run) return; // the oracle's tests are skipped (or failing) by the gate
  const req = { steps: S, base: BASE, stepSize: 7, w0: W0, grads: GRADS, lr: 0.05, wd: 0.1, student: STUDENT, teacher: TEACHER, T: 2, ids: IDS };
  oracle = JSON.parse(execFileSync(PY, [path.join(__dirname, 'torch_oracle.py')], { input: JSON.stringify(req) }).toString()) as Oracle;
});

const close = (a: number, b: number, rel: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(1e-12, Math.abs(b)));

describe('learning-rate schedules', () => {
  withTorch('onecycle, cosine and step equal torch.optim.lr_scheduler (OneCycleLR, CosineAnnealingLR, StepLR) step by step', () => {
    const sched = (kind: 'onecycle' | 'cosine' | 'step') => makeSchedule({ kind, baseLr: BASE, totalSteps: S, warmupSteps: 0, stepSize: 7, gamma: 0.1 });
    for (const kind of ['onecycle', 'cosine', 'step'] as const) {
      const s = sched(kind);
      oracle[kind].forEach((want, i) => close(s.at(i), want, 1e-9));
    }
  });

  test('linear warmup then the schedule, transcribed', () => {
    const s = makeSchedule({ kind: 'cosine', baseLr: 1, totalSteps: 100, warmupSteps: 10 });
    for (let i = 0; i < 10; i++) close(s.at(i), (i + 1) / 10, 1e-12);
    for (let i = 10; i < 100; i++) close(s.at(i), 0.5 * (1 + Math.cos((Math.PI * (i - 10)) / 90)), 1e-12);
    const c = makeSchedule({ kind: 'constant', baseLr: 0.3, totalSteps: 20, warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 19].map((i) => c.at(i))).toEqual([0.075, 0.15, 0.22499999999999998, 0.3, 0.3, 0.3]);
    expect(annealCos(2, 1, 0.5)).toBeCloseTo(1.5, 12);
  });

  test('plateau cuts by factor after `patience` epochs without improvement (Keras ReduceLROnPlateau)', () => {
    const s = makeSchedule({ kind: 'plateau', baseLr: 1, totalSteps: 10, warmupSteps: 0, patience: 2, factor: 0.5 });
    const seen: number[] = [];
    for (const m of [0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7, 0.7]) {
      s.endEpoch(m);
      seen.push(s.at(5));
    }
    expect(seen).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]);
  });
});

describe('optimizers', () => {
  withTorch('sgd (momentum 0.9, L2), adam (L2) and adamw (decoupled) equal torch.optim after 5 steps', () => {
    for (const kind of ['sgd', 'adam', 'adamw'] as const) {
      const v = tf.variable(tf.tensor1d(W0), true, `opt-test-${kind}`);
      const opt = makeOptimizer(tf, { kind, momentum: 0.9, weightDecay: 0.1 });
      for (const g of GRADS) {
        const gt = tf.tensor1d(g);
        opt.step([v], [gt], 0.05);
        gt.dispose();
      }
      const got = v.dataSync();
      // float32 state against float64: 5 steps of O(1) values stay within a few float32 ulps (1e-5 relative covers 100 ulps).
      oracle.optim[kind].forEach((want, i) => expect(Math.abs(got[i] - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want))));
      opt.dispose();
      v.dispose();
    }
  });
});

describe('losses', () => {
  withTorch('kd = T²·KL(softmax(t/T) ‖ softmax(s/T)) (batchmean) and ce equal torch.nn.functional', () => {
    const s = tf.tensor2d(STUDENT);
    const t = tf.tensor2d(TEACHER);
    close(batchLoss(tf, { kind: 'kd', temperature: 2 }, s, t, null).dataSync()[0], oracle.kd, 1e-5);
    close(batchLoss(tf, { kind: 'ce', temperature: 2 }, s, null, Int32Array.from(IDS)).dataSync()[0], oracle.ce, 1e-5);
    close(batchLoss(tf, { kind: 'kd+ce', temperature: 2, alpha: 0.25 }, s, t, Int32Array.from(IDS)).dataSync()[0], 0.25 * oracle.kd + 0.75 * oracle.ce, 1e-5);
  });

  test('kd is zero when the student equals the teacher; mse is the mean squared difference', () => {
    const s = tf.tensor2d(STUDENT);
    expect(Math.abs(batchLoss(tf, { kind: 'kd', temperature: 3 }, s, s, null).dataSync()[0])).toBeLessThan(1e-6);
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.tensor1d([1, 0, 6]);
    expect(batchLoss(tf, { kind: 'mse', temperature: 1 }, a, b, null).dataSync()[0]).toBeCloseTo(13 / 3, 6);
  });
});

describe('range test', () => {
  test('rates grow exponentially from 1e-7 to 10 over the steps', () => {
    close(rangeRate(0, 100), 1e-7, 1e-12);
    close(rangeRate(99, 100), 10, 1e-12);
    close(rangeRate(50, 101), Math.sqrt(1e-7 * 10), 1e-9);
  });

  test('on a known curve it picks the steepest descent of the smoothed loss and stops at the blow-up', () => {
    // 2 − tanh(log10(lr/1e-3)) falls fastest in log(lr) at 1e-3; past lr = 1 the loss explodes.
    const f = (lr: number) => (lr > 1 ? 1e3 * lr : 2 - Math.tanh(Math.log10(lr / 1e-3)));
    const r = lrRangeTest((lr) => f(lr));
    expect(r.diverged).toBe(true);
    expect(r.lr).not.toBeNull();
    // The moving average lags the curve (β = 0.98), so its steepest point comes after 1e-3,
    // never before it, and before the blow-up at 1.
    expect(r.lr!).toBeGreaterThan(1e-3);
    expect(r.lr!).toBeLessThan(1);
    // steepest() itself on an exact curve: the transcription of numpy.gradient's argmin.
    const pts: LrFindPoint[] = Array.from({ length: 30 }, (_, i) => {
      const lr = 10 ** (-6 + i * 0.2);
      return { lr, loss: 0, smoothed: 2 - Math.tanh(Math.log10(lr / 1e-3)) };
    });
    const { index } = steepest(pts, 0, 0);
    expect(Math.abs(Math.log10(pts[index].lr / 1e-3))).toBeLessThanOrEqual(0.2);
  });
});

describe('epoch order', () => {
  test('a permutation, repeatable for a seed, different per epoch and per seed', () => {
    const a = epochOrder(1000, 3, 0);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(1000).keys()]);
    expect(epochOrder(1000, 3, 0)).toEqual(a);
    expect(epochOrder(1000, 3, 1)).not.toEqual(a);
    expect(epochOrder(1000, 4, 0)).not.toEqual(a);
  });
});
