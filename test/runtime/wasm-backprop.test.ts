/**
 * mc's wasm convolution gradient kernels (src/runtime/executor/backend.ts) against tfjs's
 * pure-JS cpu backend, whose Conv2DBackpropInput/Filter and DepthwiseConv2dNativeBackprop*
 * are direct loops over the textbook sums, written independently of ours. Each case takes
 * tf.grads of a conv on both backends at the same inputs and compares dx and dW. mc's wasm
 * MaxPoolGrad is compared with the cpu kernel the same way, on windows that tfjs's own wasm
 * kernel gets wrong (all negative, all zero) and on overlapping windows.
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
  { label: 'conv 1 input channel (the fixture CNN\'s first layer: patch-matrix weight gradient)', x: [3, 9, 8, 1], w: [3, 3, 1, 5], strides: [1, 1], pad: p(1, 1, 1, 1), depthwise: false },
  { label: 'conv 6 input channels, stride 2 (dilated-conv weight gradient)', x: [2, 9, 8, 6], w: [3, 3, 6, 4], strides: [2, 2], pad: p(1, 0, 1, 1), depthwise: false },
  { label: 'conv 8 input channels, stride 1, SAME', x: [2, 6, 7, 8], w: [3, 3, 8, 3], strides: [1, 1], pad: 'same', depthwise: false },
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

describe('wasm MaxPoolGrad matches tfjs cpu', () => {
  const POOLS: { label: string; x: number[]; k: [number, number]; s: [number, number]; pad: 'valid' | 'same' | number; values: (n: number) => Float32Array }[] = [
    { label: '2x2 stride 2, all negative (the wasm kernel sent dy to the first element)', x: [2, 6, 6, 3], k: [2, 2], s: [2, 2], pad: 'valid', values: (n) => Float32Array.from({ length: n }, () => -0.1 - Math.abs(rand())) },
    { label: '2x2 stride 2, zeros and ties (the first maximum takes dy; the wasm kernel dropped all-zero windows)', x: [1, 6, 8, 2], k: [2, 2], s: [2, 2], pad: 'valid', values: (n) => Float32Array.from({ length: n }, () => (rand() > 0 ? 0 : Math.round(rand() * 2))) },
    { label: '3x3 stride 2 pad 1, overlapping windows', x: [2, 7, 7, 4], k: [3, 3], s: [2, 2], pad: 1, values: (n) => filled([n]) },
    { label: '3x2 stride 1 SAME, ragged', x: [1, 5, 6, 3], k: [3, 2], s: [1, 1], pad: 'same', values: (n) => filled([n]) },
  ];
  const poolGrad = (backend: string, c: (typeof POOLS)[number], xv: Float32Array, dyv: Float32Array) => tf.tidy(() => {
    if (tf.getBackend() !== backend) throw new Error(`backend is ${tf.getBackend()}, not ${backend}`);
    const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
    const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad as 'valid');
    const y = f(x);
    expect(y.size).toBe(dyv.length);
    return tf.grad(f)(x, tf.tensor(dyv, y.shape)).dataSync() as Float32Array;
  });
  test.each(POOLS.map((c) => [c.label, c] as const))('%s', async (_l, c) => {
    seed = 11;
    const xv = c.values(c.x.reduce((a, b) => a * b, 1));
    const outShape = await (async () => {
      await tf.setBackend('cpu');
      return tf.tidy(() => tf.maxPool(tf.zeros(c.x as [number, number, number, number]) as tf.Tensor4D, c.k, c.s, c.pad as 'valid').shape);
    })();
    const dyv = filled(outShape);
    const ref = poolGrad('cpu', c, xv, dyv);
    await useGradientBackend(tf, 'wasm');
    const got = poolGrad('wasm', c, xv, dyv);
    // The same additions in the same order (one or a few dy per element): equal up to rounding.
    let worst = 0;
    ref.forEach((r, i) => { worst = Math.max(worst, Math.abs(got[i] - r)); });
    expect(worst).toBeLessThan(1e-6);
    // dy is conserved: every window sends its dy somewhere.
    const sum = (a: Float32Array) => a.reduce((p, v) => p + v, 0);
    expect(Math.abs(sum(got) - sum(dyv))).toBeLessThan(1e-4);
  });
});

describe('wasm BatchMatMul with transposed operands (the linear layers\' backward) matches tfjs cpu', () => {
  const MM: [number[], number[], boolean, boolean][] = [
    [[40, 24], [40, 16], true, false], [[24, 40], [16, 40], false, true], [[40, 24], [16, 40], true, true],
    [[1, 24, 40], [40, 16], false, false], [[2, 5, 7], [2, 5, 3], true, false],
  ];
  test.each(MM.map((c) => [`${c[0].join('x')} × ${c[1].join('x')}, transposeA ${c[2]}, transposeB ${c[3]}`, c] as const))('%s', async (_l, [as, bs, ta, tb]) => {
    seed = 5;
    const av = filled(as);
    const bv = filled(bs);
    const run = () => tf.tidy(() => tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb).dataSync() as Float32Array);
    await tf.setBackend('cpu');
    const ref = run();
    await useGradientBackend(tf, 'wasm');
    const got = run();
    expect(got.length).toBe(ref.length);
    // Sums of ≤ 40 products of size ≤ 1 in another order: ≤ 40·6e-8 apart; 1e-5 is that with margin.
    let worst = 0;
    ref.forEach((r, i) => { worst = Math.max(worst, Math.abs(got[i] - r)); });
    expect(worst).toBeLessThan(1e-5);
  });
});
