/**
 * The training engine repeats itself exactly: the same Adam steps of distillation on the
 * fixture CNN, from the same weights and batch, give byte-identical weights twice over on
 * the wasm backend with mc's kernels (MaxPoolGrad and the conv backprops are loops in a fixed
 * order; XNNPACK runs single-threaded). The CLI-level check is finetune-cli's same-seed test.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/formats';
import { useGradientBackend } from '../../src/runtime/executor';
import { kdLoss, makeOptimizer, openTrainable } from '../../src/train';

const CNN = path.join(__dirname, '..', '..', 'fixtures', 'cnn.onnx');

async function train(steps: number): Promise<Uint8Array> {
  const model = loadModel(CNN);
  const t = await openTrainable(tf, model);
  const opt = makeOptimizer(tf, { kind: 'adam', momentum: 0, weightDecay: 0 });
  const x = tf.randomUniform([8, 1, 28, 28], 0, 1, 'float32', 3);
  const feeds = { [model.graph.inputs[0].name]: x };
  const teacher = t.reference(feeds);
  if (!teacher) throw new Error('the ONNX trainable has no reference output');
  // A perturbed teacher, so that the loss and its gradients are not zero at the start.
  const target = tf.add(teacher, tf.randomNormal(teacher.shape, 0, 0.5, 'float32', 4));
  for (let i = 0; i < steps; i++) {
    const { grads } = t.lossAndGrads(feeds, (out) => kdLoss(tf, out, target, 2));
    opt.step(t.vars, grads, 1e-2);
    tf.dispose(grads);
  }
  const bytes = t.vars.map((v) => new Uint8Array((v.dataSync() as Float32Array).slice().buffer));
  const all = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of bytes) { all.set(b, o); o += b.length; }
  tf.dispose([x, teacher, target]);
  opt.dispose();
  t.dispose();
  return all;
}

test('three training steps twice: byte-identical weights, and the steps changed them', async () => {
  await useGradientBackend(tf, 'wasm');
  const start = await train(0);
  const a = await train(3);
  const b = await train(3);
  expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  expect(Buffer.from(a).equals(Buffer.from(start))).toBe(false);
});
