import type { Tensor4D } from '@tensorflow/tfjs';
import { UnsupportedError } from '../../errors';
import { explicitPads } from './padding';
import { need, OpContext, OpTable, T, TF } from './types';

export interface ConvAttrs {
  autoPad: string;
  dilations: number[];
  group: number;
  pads?: number[];
  strides: number[];
}

/**
 * ONNX Conv (NCHW, W [M, C/group, kH, kW]) on tfjs, which convolves NHWC with HWIO
 * filters: transpose in and out. 1-D convs run as 2-D with H = 1. group > 1 runs as
 * a depthwise conv when each group has one input channel, else one conv per group.
 */
export function Conv(tf: TF, X: T, W: T, B: T | null, a: ConvAttrs): T {
  const spatial = X.rank - 2;
  if (spatial === 1) {
    const y = Conv(tf, tf.expandDims(X, 2), tf.expandDims(W, 2), B, {
      ...a, dilations: [1, a.dilations[0]], strides: [1, a.strides[0]],
      pads: a.pads ? [0, a.pads[0], 0, a.pads[1]] : undefined,
    });
    return tf.squeeze(y, [2]);
  }
  if (spatial !== 2) throw new UnsupportedError(`Conv with ${spatial} spatial dimensions is not supported by the executor`);
  if (a.strides.some((s) => s > 1) && a.dilations.some((d) => d > 1)) {
    throw new UnsupportedError('Conv with both strides > 1 and dilations > 1 is not supported by tfjs');
  }
  const [kH, kW] = W.shape.slice(2);
  const { begin, end } = explicitPads(X.shape.slice(2), [kH, kW], a.strides, a.dilations, a.autoPad, a.pads);
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [begin[0], end[0]], [begin[1], end[1]], [0, 0]];
  const x = tf.transpose(X, [0, 2, 3, 1]) as Tensor4D;
  const w = tf.transpose(W, [2, 3, 1, 0]) as Tensor4D; // [kH, kW, C/g, M]
  const strides = a.strides as [number, number];
  const dilations = a.dilations as [number, number];
  const C = X.shape[1];
  const M = W.shape[0];
  let y: T;
  if (a.group === 1) {
    y = tf.conv2d(x, w, strides, pad, 'NHWC', dilations);
  } else if (a.group === C && W.shape[1] === 1) {
    y = tf.depthwiseConv2d(x, tf.reshape(w, [kH, kW, C, M / C]) as Tensor4D, strides, pad, 'NHWC', dilations);
  } else {
    const xs = tf.split(x, a.group, 3);
    const ws = tf.split(w, a.group, 3);
    y = tf.concat(xs.map((xi, g) => tf.conv2d(xi as Tensor4D, ws[g] as Tensor4D, strides, pad, 'NHWC', dilations)), 3);
  }
  if (B) y = tf.add(y, tf.reshape(B, [1, 1, 1, M]));
  return tf.transpose(y, [0, 3, 1, 2]);
}

/** Gemm: Y = alpha * A' B' + beta * C, with A' = transA ? A^T : A (and B likewise). */
export function Gemm(tf: TF, A: T, B: T, C: T | null, { alpha = 1, beta = 1, transA = 0, transB = 0 }): T {
  let y = tf.matMul(A as import('@tensorflow/tfjs').Tensor2D, B as import('@tensorflow/tfjs').Tensor2D, transA === 1, transB === 1);
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (C) y = tf.add(y, beta === 1 ? C : tf.mul(C, beta));
  return y;
}

/**
 * MatMul with numpy semantics: 1-D operands gain and then lose a unit dimension; batch dims broadcast.
 * tfjs 4.22's BatchMatMul gradient does not sum over broadcast batch dims (a [B, M, K] × [K, N]
 * product gives dB the shape [B, K, N]), so broadcasting is made explicit: a 2-D right operand
 * multiplies the rows of A flattened (the usual activations × weight case), otherwise both
 * operands are broadcast to the common batch shape (broadcastTo's gradient sums).
 */
export function MatMul(tf: TF, A: T, B: T): T {
  let a = A.rank === 1 ? tf.expandDims(A, 0) : A;
  let b = B.rank === 1 ? tf.expandDims(B, 1) : B;
  let y: T;
  if (b.rank === 2 && a.rank > 2) {
    const lead = a.shape.slice(0, -1);
    y = tf.reshape(tf.matMul(tf.reshape(a, [-1, a.shape[a.rank - 1]]) as import('@tensorflow/tfjs').Tensor2D, b as import('@tensorflow/tfjs').Tensor2D), [...lead, b.shape[b.rank - 1]]);
  } else {
    if (a.rank > 2 || b.rank > 2) {
      const batch = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      const aFull = [...batch, ...a.shape.slice(-2)];
      const bFull = [...batch, ...b.shape.slice(-2)];
      if (aFull.length !== a.rank || aFull.some((d, i) => d !== a.shape[i])) a = tf.broadcastTo(a, aFull);
      if (bFull.length !== b.rank || bFull.some((d, i) => d !== b.shape[i])) b = tf.broadcastTo(b, bFull);
    }
    y = tf.matMul(a, b);
  }
  if (A.rank === 1) y = tf.squeeze(y, [y.rank - 2]);
  if (B.rank === 1) y = tf.squeeze(y, [y.rank - 1]);
  return y;
}

export function convAttrs(c: OpContext, W: T): ConvAttrs {
  const n = c.node;
  const r = W.rank - 2;
  return {
    autoPad: n.attrString('auto_pad', 'NOTSET'),
    dilations: n.attrInts('dilations', Array(r).fill(1)),
    group: n.attrInt('group', 1),
    pads: n.attributes.has('pads') ? n.attrInts('pads') : undefined,
    strides: n.attrInts('strides', Array(r).fill(1)),
  };
}

export const convOps: OpTable = {
  Conv: (c, i) => Conv(c.tf, need(c, i, 0), need(c, i, 1), i[2] ?? null, convAttrs(c, need(c, i, 1))),
  Gemm: (c, i) => Gemm(c.tf, need(c, i, 0), need(c, i, 1), i[2] ?? null, {
    alpha: c.node.attrFloat('alpha', 1), beta: c.node.attrFloat('beta', 1),
    transA: c.node.attrInt('transA', 0), transB: c.node.attrInt('transB', 0),
  }),
  MatMul: (c, i) => MatMul(c.tf, need(c, i, 0), need(c, i, 1)),
};
