/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { openDataset, openLabels } from '../../src/data';
import { loadModel } from '../../src/formats';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import type { Value } from '../../src/ir';
import { Executor, useGradientBackend } from '../../src/runtime/executor';
import { channelGate, findTargets, saliencyScores } from '../../src/passes/prune';
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

/**
 * The channel score is the gate form of Molchanov et al. 2019: (dL/dz_c)^2 for a gate
 * z_c = 1 on the activation that channel removal deletes (after the BatchNorm that
 * follows a Conv, else on the layer output incl. bias). Scaling exactly that
 * activation by z is scaling the gate's parameters (gamma_c, beta_c), resp.
 * (W_c, b_c), by z, so a central difference in z is an independent oracle.
 */
describe('channel saliency = squared gate derivative (fixture CNN with BatchNorm)', () => {
  const FIX = path.resolve(__dirname, '..', '..', 'fixtures');

  test('gates: BN gamma/beta after each Conv, weight + bias for the Gemm', () => {
    const model = loadModel(path.join(FIX, 'cnn.onnx'));
    const gates = findTargets(model, []).targets.map((t) => [t.layer, channelGate(model, t).terms.map((p) => p.value.name)]);
    expect(gates).toEqual([
      ['conv1/Conv', ['bn1.weight', 'bn1.bias']], ['conv2/Conv', ['bn2.weight', 'bn2.bias']], ['conv3/Conv', ['bn3.weight', 'bn3.bias']],
      ['fc1/Gemm', ['fc1.weight', 'fc1.bias']], ['logits/Gemm', ['logits.weight', 'logits.bias']],
    ]);
  });

  test('one mini-batch: score_c = (dL/dz_c)^2 by central differences, for channels of every layer', async () => {
    const model = loadModel(path.join(FIX, 'cnn.onnx'));
    const { targets } = findTargets(model, []);
    const inputs = [{ name: 'input', dtype: 'float32' as const, shape: ['N', 1, 28, 28] }];
    const n = 32;
    const scores = await saliencyScores(model, targets, {
      tf, data: openDataset(path.join(FIX, 'calib-x.npy'), { inputs }), labels: openLabels(path.join(FIX, 'calib-y.npy')), samples: n, batchSize: n, channel: true,
    });
    const ex = new Executor(model, tf);
    const [batch] = [...openDataset(path.join(FIX, 'calib-x.npy'), { inputs }).batches(n, n)];
    const b = batch.inputs.get('input')!;
    const x = tf.tensor(b.data as Float32Array, b.shape);
    const [lb] = [...openLabels(path.join(FIX, 'calib-y.npy')).batches(n, n)];
    const oneHot = tf.oneHot(tf.tensor1d(lb.ids, 'int32'), 10);
    const lossAt = (overrides: Map<Value, tf.Tensor>): number => {
      const [out] = ex.run({ input: x }, { overrides });
      const l = tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(out)), -1))).dataSync()[0]);
      tf.dispose([out, ...overrides.values()]);
      return l;
    };
    /** The loss with channel c's gate at z: every gate parameter's channel-c slice times z. */
    const lossWithGate = (terms: { value: Value; axis: number }[], c: number, z: number): number => lossAt(new Map(terms.map(({ value, axis }) => {
      const t = value.const!;
      const w = Float32Array.from(t.toFloat32());
      const inner = t.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
      const outer = t.shape.slice(0, axis).reduce((p, d) => p * d, 1);
      for (let o = 0; o < outer; o++) for (let k = 0; k < inner; k++) w[(o * t.shape[axis] + c) * inner + k] *= z;
      return [value, tf.tensor(w, [...t.shape])];
    })));
    const h = 1e-2;
    let filterOnlyDiffers = 0;
    for (const t of targets.filter((x) => !x.layer.startsWith('logits'))) {
      const gate = channelGate(model, t).terms;
      const s = scores.get(t.value)!.channel!.subarray(0, 16); // 16 channels per layer keep the test short
      const fd = Float64Array.from(s, (_, c) => (lossWithGate(gate, c, 1 + h) - lossWithGate(gate, c, 1 - h)) / (2 * h));
      const scale = Math.max(...fd.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-4);
      // Measured: within 1e-4 of the layer's largest |dL/dz| for conv3 and fc1, 1-3% for conv1/conv2, whose
      // gamma/beta gradients are float32 sums over 32x28x28 (resp. 14x14) positions that largely cancel.
      fd.forEach((d, c) => expect(Math.abs(Math.sqrt(s[c]) - Math.abs(d))).toBeLessThan(0.03 * scale));
      // With a BN after the Conv, scaling the filter alone is a different quantity (BN's shift keeps flowing).
      if (t.node.opType === 'Conv') {
        const filter = [{ value: t.value, axis: t.outAxis }];
        const fdW = Float64Array.from(s, (_, c) => (lossWithGate(filter, c, 1 + h) - lossWithGate(filter, c, 1 - h)) / (2 * h));
        fdW.forEach((d, c) => { if (Math.abs(Math.abs(d) - Math.abs(fd[c])) > 0.1 * scale) filterOnlyDiffers++; });
      }
    }
    expect(filterOnlyDiffers).toBeGreaterThan(5);
    tf.dispose([x, oneHot]);
    ex.dispose();
  });
});
