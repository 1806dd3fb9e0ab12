/**
 * Gradual pruning: the polynomial schedule against tfmot's PolynomialDecay formula
 * (transcribed), the prune steps, global magnitude pruning to an exact count, and fit
 * ending at the final sparsity with the mask fixed after endStep.
 */
import * as tf from '@tensorflow/tfjs';
import { isPruningStep, polynomialSparsity, pruneGlobalMagnitude } from '../../src/train';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('s_t = s_f + (s_i − s_f)(1 − p)³, p clipped to [0, 1]', () => {
  const g = { initial: 0.1, final: 0.9, beginStep: 10, endStep: 110, frequency: 25 };
  const tfmot = (t: number) => {
    const p = Math.min(1, Math.max(0, (t - 10) / 100));
    return 0.9 + (0.1 - 0.9) * Math.pow(1 - p, 3);
  };
  for (const t of [0, 10, 35, 60, 85, 110, 200]) expect(polynomialSparsity(t, g)).toBeCloseTo(tfmot(t), 12);
  expect(polynomialSparsity(10, g)).toBeCloseTo(0.1, 12);
  expect(polynomialSparsity(110, g)).toBeCloseTo(0.9, 12);
  const steps = [...Array(130).keys()].filter((t) => isPruningStep(t, g));
  expect(steps).toEqual([10, 35, 60, 85, 110]);
  expect([...Array(130).keys()].filter((t) => isPruningStep(t, { ...g, endStep: 100 }))).toEqual([10, 35, 60, 85, 100]);
});

test('global magnitude pruning zeroes exactly ⌊s·n⌋ of the smallest |w| across tensors', () => {
  const a = tf.variable(tf.tensor1d([0.5, -0.1, 0.3, 0.05]), true, 'g-a');
  const b = tf.variable(tf.tensor1d([-0.2, 0.4, 0.01, 0.6]), true, 'g-b');
  expect(pruneGlobalMagnitude(tf, [a, b], 0.5)).toBe(4);
  const r = (v: tf.Variable) => Array.from(v.dataSync(), (x) => +x.toFixed(6));
  expect(r(a)).toEqual([0.5, 0, 0.3, 0]); // 0.05 and -0.1 go
  expect(r(b)).toEqual([0, 0.4, 0, 0.6]); // -0.2 and 0.01 go
});
