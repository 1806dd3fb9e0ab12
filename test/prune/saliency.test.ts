/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
import * as tf from '@tensorflow/tfjs';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { Executor, useGradientBackend } from '../../src/runtime/executor';
import { findTargets } from '../../src/passes/prune';
import { buildCnn, inputBatch } from './cnn';

beforeAll(async () => {
  await useGradientBackend(tf, 'wasm');
});

function cnnGrads(): { loss: number; grads: Float32Array[] } {
  const model = decodeOnnx(encodeOnnx(buildCnn({ c1: 4, c2: 8, hidden: 16 })));
  const ex = new Executor(model, tf);
  const x = tf.tensor(inputBatch(3), [3, 1, 28, 28]);
  const labels = tf.oneHot(tf.tensor1d([1, 4, 7], 'int32'), 10);
  const loss = (outs: tf.Tensor[]) => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(outs[0])), -1))) as tf.Scalar;
  const r = ex.lossAndGrads({ x }, findTargets(model, []).targets.map((t) => t.value), loss);
  const grads = r.grads.map((g) => g.dataSync() as Float32Array);
  tf.dispose([x, labels, ...r.grads]);
  ex.dispose();
  return { loss: r.loss, grads };
}

describe('executor gradients', () => {
  test('wasm (with the registered Conv2DBackpropFilter) equals the cpu backend', async () => {
    await useGradientBackend(tf, 'cpu');
    const cpu = cnnGrads();
    await useGradientBackend(tf, 'wasm');
    const wasm = cnnGrads();
    expect(Math.abs(cpu.loss - wasm.loss)).toBeLessThan(1e-5);
    cpu.grads.forEach((g, i) => {
      let worst = 0;
      let scale = 0;
      g.forEach((v, k) => {
        worst = Math.max(worst, Math.abs(v - wasm.grads[i][k]));
        scale = Math.max(scale, Math.abs(v));
      });
      expect(worst).toBeLessThan(1e-5 * scale);
    });
  });

  test('dL/dW of conv and gemm weights match central finite differences (wasm backend)', () => {
    const model = decodeOnnx(encodeOnnx(buildCnn({ c1: 4, c2: 8, hidden: 16 })));
    const ex = new Executor(model, tf);
    const x = tf.tensor(inputBatch(3), [3, 1, 28, 28]);
    const labels = tf.oneHot(tf.tensor1d([1, 4, 7], 'int32'), 10);
    const loss = (outs: tf.Tensor[]) => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(outs[0])), -1))) as tf.Scalar;
    const targets = findTargets(model, []).targets;
    const { grads } = ex.lossAndGrads({ x }, targets.map((t) => t.value), loss);
    const lossAt = (v: typeof targets[number]['value'], w: Float32Array): number => {
      const t = tf.tensor(w, v.const!.shape);
      const out = ex.run({ x }, { overrides: new Map([[v, t]]) });
      const l = loss(out).dataSync()[0];
      tf.dispose([t, ...out]);
      return l;
    };
    let checked = 0;
    let close = 0;
    targets.forEach((t, i) => {
      const w0 = t.value.const!.toFloat32();
      const g = grads[i].dataSync();
      // The largest-gradient entries: their finite differences are well above float32 noise.
      const top = [...g.keys()].sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 3);
      for (const k of top) {
        const h = 2e-3;
        const wp = Float32Array.from(w0); wp[k] += h;
        const wm = Float32Array.from(w0); wm[k] -= h;
        const fd = (lossAt(t.value, wp) - lossAt(t.value, wm)) / (2 * h);
        // ReLU and MaxPool kinks within +-h can bend a difference quotient, so most (not all) must agree to 5%, all to 25%.
        expect(Math.abs(fd - g[k])).toBeLessThan(0.25 * Math.abs(g[k]) + 1e-4);
        if (Math.abs(fd - g[k]) < 0.05 * Math.abs(g[k]) + 1e-4) close++;
        checked++;
      }
    });
    expect(checked).toBe(12);
    expect(close).toBeGreaterThanOrEqual(10);
    tf.dispose([x, labels, ...grads]);
    ex.dispose();
  });
});
