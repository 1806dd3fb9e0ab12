/**
 * mc's wasm convolution gradient kernels (src/runtime/executor/backend.ts) against tfjs's
 * pure-JS cpu backend, whose Conv2DBackpropInput/Filter and DepthwiseConv2dNativeBackprop*
 * are direct loops over the textbook sums, written independently of ours. Each case takes
 * tf.grads of a conv on both backends at the same inputs and compares dx and dW.
 *
 * Tolerance: both sides sum the same float32 products in different orders; a sum of K
 * terms of size ≲ 1 (here K ≤ kH·kW·C·N ≲ 1,200) differs by ≲ K·6e-8 ≈ 7e-5 in the worst
 * case, so 2e-4·(1 + |ref|) is that bound with margin ×3; a wrong tap or a missed row is
 * off by a whole product (≳ 1e-2).
 */
import * as tf from '@tensorflow/tfjs';
import { useGradientBackend } from '../../src/runtime/executor';

type Pad = 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
interface Case { label: string; x: number[]; w: number[]; strides: [number, number]; pad: Pad; depthwise: boolean }

let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1;
const filled = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand);
const p = (t: number, b: number, l: number, r: number): Pad => [[0, 0], [t, b], [l, r], [0, 0]];

const CASES: Case[] = [
  { label: 'depthwise stride 2, pad 1 (PP-OCR cls)', x: [2, 7, 7, 3], w: [3, 3, 3, 1], strides: [2, 2], pad: p(1, 1, 1, 1), depthwise: true },
  { label: 'depthwise stride 2, even size: the last row and column see only padding', x: [2, 8, 8, 3], w: [3, 3, 3, 1], strides: [2, 2], pad: p(1, 1, 1, 1), depthwise: true },
  { label: 'depthwise stride 2, 5x5, SAME', x: [1, 9, 10, 4], w: [5, 5, 4, 1], strides: [2, 2], pad: 'same', depthwise: true },
  { label: 'depthwise stride 3x2, valid, ragged', x: [2, 11, 8, 2], w: [3, 2, 2, 1], strides: [3, 2], pad: 'valid', depthwise: true },
  { label: 'depthwise stride 1, pads beyond the kernel', x: [1, 5, 5, 2], w: [2, 2, 2, 1], strides: [1, 1], pad: p(3, 2, 0, 3), depthwise: true },
  { label: 'depthwise channel multiplier 2, stride 1', x: [2, 6, 6, 3], w: [3, 3, 3, 2], strides: [1, 1], pad: p(1, 1, 1, 1), depthwise: true },
  { label: 'depthwise channel multiplier 3, stride 2', x: [1, 7, 8, 2], w: [3, 3, 2, 3], strides: [2, 2], pad: p(1, 0, 1, 1), depthwise: true },
  { label: 'conv stride 2, pad 1', x: [2, 7, 7, 3], w: [3, 3, 3, 4], strides: [2, 2], pad: p(1, 1, 1, 1), depthwise: false },
  { label: 'conv stride 2, even size, asymmetric pads', x: [2, 8, 6, 2], w: [3, 3, 2, 5], strides: [2, 2], pad: p(0, 1, 1, 0), depthwise: false },
  { label: 'conv stride 3x2, valid', x: [1, 10, 9, 3], w: [2, 3, 3, 2], strides: [3, 2], pad: 'valid', depthwise: false },
  { label: 'conv stride 1, pad 1', x: [2, 6, 5, 3], w: [3, 3, 3, 4], strides: [1, 1], pad: p(1, 1, 1, 1), depthwise: false },
];

function grads(backend: string, c: Case, xv: Float32Array, wv: Float32Array): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    if (tf.getBackend() !== backend) throw new Error(`backend is ${tf.getBackend()}, not ${backend}`);
    const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
    const w = tf.tensor4d(wv, c.w as [number, number, number, number]);
    const f = (a: tf.Tensor4D, b: tf.Tensor4D) => (c.depthwise
      ? tf.depthwiseConv2d(a, b, c.strides, c.pad as 'valid')
      : tf.conv2d(a, b, c.strides, c.pad as 'valid'));
    const y = f(x, w);
    seed = 99;
    const dy = tf.tensor(filled(y.shape), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D))([x, w], dy);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

describe('wasm conv gradient kernels match tfjs cpu', () => {
  test.each(CASES.map((c) => [c.label, c] as const))('%s', async (_l, c) => {
    seed = 3;
    const xv = filled(c.x);
    const wv = filled(c.w);
    await tf.setBackend('cpu');
    const ref = grads('cpu', c, xv, wv);
    await useGradientBackend(tf, 'wasm');
    const got = grads('wasm', c, xv, wv);
    for (const k of ['dx', 'dw'] as const) {
      expect(got[k].length).toBe(ref[k].length);
      let worst = 0;
      ref[k].forEach((r, i) => { worst = Math.max(worst, Math.abs(got[k][i] - r) / (1 + Math.abs(r))); });
      expect({ grad: k, worst: worst <= 2e-4 }).toEqual({ grad: k, worst: true });
      // Not vacuous: the reference has a gradient everywhere it should (no all-zero result).
      expect(ref[k].some((r) => Math.abs(r) > 1e-3)).toBe(true);
    }
  });
});
