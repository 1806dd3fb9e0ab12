/**
 * Masks through real training: a small CNN (built in the test) with one weight pruned
 * unstructured (every other element) and one 2:4 along the reduction axis is trained by
 * `fit` with the optimizers that move zeros hardest (SGD with momentum and weight decay,
 * AdamW). Afterwards the zeros are the same positions, the count is the same, and every
 * group of 4 still has 2 zeros; the other weights did move. As a control, the same
 * training without masks (a weight left unmasked) moves the zeros, so the test can fail.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, Dataset } from '../../src/data';
import { useGradientBackend } from '../../src/runtime/executor';
import { fit, makeOptimizer, openTrainable, TrainingSet, WeightMasks } from '../../src/train';
import { buildCnn, inputBatch } from '../prune/cnn';

const N = 64;
function dataset(): Dataset {
  const x = inputBatch(N);
  return {
    path: 'memory', kind: 'npy', count: N,
    describe: () => [{ name: 'x', dtype: 'float32', shape: [1, 28, 28], file: 'memory' }],
    *batches(size: number, limit = N): Iterable<Batch> {
      for (let s = 0; s < Math.min(N, limit); s += size) {
        const c = Math.min(size, Math.min(N, limit) - s);
        yield { start: s, count: c, inputs: new Map([['x', { dtype: 'float32', shape: [c, 1, 28, 28], data: x.subarray(s * 784, (s + c) * 784) }]]) };
      }
    },
  };
}

beforeAll(async () => {
  await useGradientBackend(tf, 'wasm');
});

test.each(['sgd', 'adamw'] as const)('%s: pruned zeros stay zero, 2:4 groups stay valid, other weights move', async (kind) => {
  const model = buildCnn({ c1: 4, c2: 8, hidden: 16 });
  const w1 = model.graph.initializers.find((v) => v.name === 'conv2.w')!.const!;
  const w2 = model.graph.initializers.find((v) => v.name === 'fc1.w')!.const!;
  const d1 = w1.writableFloat32();
  for (let i = 0; i < d1.length; i += 2) d1[i] = 0;
  const d2 = w2.writableFloat32(); // [hidden, c2*25] with transB: the reduction axis is the last
  for (let g = 0; g < d2.length; g += 4) { d2[g + 1] = 0; d2[g + 3] = 0; }
  const z1 = [...w1.toFloat32()].flatMap((v, i) => (v === 0 ? [i] : []));
  const before2 = Float32Array.from(w2.toFloat32());
  const teacher = buildCnn({ c1: 4, c2: 8, hidden: 16, seed: 2 });
  const t = await openTrainable(tf, model);
  const ref = await openTrainable(tf, teacher);
  const r = fit(tf, t, { predict: (f) => ref.predict(f), dispose: () => {} }, TrainingSet.load(dataset()), {
    epochs: 2, batchSize: 16, optimizer: { kind, momentum: 0.9, weightDecay: 0.05 }, lr: 0.01, schedule: 'constant', warmup: 0,
    loss: { kind: 'kd', temperature: 2 }, seed: 1,
  });
  t.writeBack();
  t.dispose();
  ref.dispose();
  const after1 = w1.toFloat32();
  const after2 = w2.toFloat32();
  expect([...after1].flatMap((v, i) => (v === 0 ? [i] : []))).toEqual(z1);
  for (let g = 0; g < after2.length; g += 4) expect([after2[g + 1], after2[g + 3]]).toEqual([0, 0]);
  expect(r.maskedZeros).toBe(z1.length + after2.length / 2);
  let moved = 0;
  after2.forEach((v, i) => { if (before2[i] !== 0 && v !== before2[i]) moved++; });
  expect(moved).toBeGreaterThan(after2.length / 4);
});

test('control: without the mask, momentum and decay move the zeros', () => {
  const v = tf.variable(tf.tensor1d([0, 1, 0, 2]), true, 'mask-control');
  const g = tf.tensor1d([0.5, 0.5, 0.5, 0.5]);
  const masks = WeightMasks.of(tf, [v]);
  const unmasked = tf.variable(tf.tensor1d([0, 1, 0, 2]), true, 'mask-control-2');
  const o1 = makeOptimizer(tf, { kind: 'sgd', momentum: 0.9, weightDecay: 0.1 });
  const o2 = makeOptimizer(tf, { kind: 'sgd', momentum: 0.9, weightDecay: 0.1 });
  for (let i = 0; i < 3; i++) {
    o1.step([v], masks.maskGrads([g.clone()]), 0.1);
    masks.apply([v]);
    o2.step([unmasked], [g], 0.1);
  }
  const a = v.dataSync();
  const b = unmasked.dataSync();
  expect([a[0], a[2]]).toEqual([0, 0]);
  expect(b[0]).not.toBe(0);
  expect(masks.zeros).toBe(2);
});
