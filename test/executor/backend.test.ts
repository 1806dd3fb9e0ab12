import * as tf from '@tensorflow/tfjs';
import { useGradientBackend } from '../../src/runtime/executor/backend';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

async function convWeightGrad(backend: 'wasm' | 'cpu', xShape: number[], wShape: number[], strides: number, pad: Pad): Promise<Float32Array> {
  await useGradientBackend(tf, backend);
  const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(Float32Array.from({ length: n(xShape) }, (_, i) => Math.sin(i * 1.3)), xShape as [number, number, number, number]);
  const w = tf.tensor4d(Float32Array.from({ length: n(wShape) }, (_, i) => Math.cos(i * 0.7)), wShape as [number, number, number, number]);
  const [g] = tf.grads((wt: tf.Tensor) => tf.conv2d(x, wt as tf.Tensor4D, strides, pad).square().sum())([w]);
  const out = g.dataSync() as Float32Array;
  tf.dispose([x, w, g]);
  return out;
}

describe('wasm Conv2DBackpropFilter built from forward kernels', () => {
  const cases: [number[], number[], number, Pad][] = [
    [[2, 9, 9, 3], [3, 3, 3, 4], 1, 'same'],
    [[2, 9, 9, 3], [3, 3, 3, 4], 2, 'valid'],
    [[2, 8, 8, 3], [3, 3, 3, 4], 2, 'same'],
    [[1, 10, 7, 2], [5, 3, 2, 3], 2, [[0, 0], [1, 2], [0, 1], [0, 0]]],
  ];
  test.each(cases)('x %j w %j stride %d pad %j matches the cpu kernel', async (xs, ws, s, pad) => {
    const ref = await convWeightGrad('cpu', xs, ws, s, pad);
    const got = await convWeightGrad('wasm', xs, ws, s, pad);
    expect(got.length).toBe(ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]) / (1e-3 + Math.abs(ref[i])));
    expect(worst).toBeLessThan(1e-4);
  });
});
