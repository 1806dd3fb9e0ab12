import type { Tensor4D } from '@tensorflow/tfjs';
import { UnsupportedError } from '../../errors';
import { explicitPads } from './padding';
import { need, OpContext, OpTable, T, TF } from './types';

export interface PoolAttrs {
  autoPad: string;
  ceilMode: number;
  countIncludePad: number;
  dilations: number[];
  kernelShape: number[];
  pads?: number[];
  strides: number[];
}

/**
 * MaxPool / AveragePool (NCHW). Pads are applied explicitly (-inf for max, 0 for
 * average) and tfjs pools with 'valid', so every ONNX padding mode maps exactly.
 * ceil_mode adds end padding for the extra window, except a window that would start
 * inside the end padding (ONNX reference pool: that window is dropped).
 * Average divides a zero-padded sum by the pooled count of cells that count:
 * real cells, plus explicit pads when count_include_pad = 1.
 */
export function Pool(tf: TF, X: T, kind: 'max' | 'avg', a: PoolAttrs): T {
  const spatial = X.rank - 2;
  if (spatial === 1) {
    const lift = (v: number[]) => [1, v[0]];
    const y = Pool(tf, tf.expandDims(X, 2), kind, {
      ...a, kernelShape: lift(a.kernelShape), strides: lift(a.strides), dilations: lift(a.dilations),
      pads: a.pads ? [0, a.pads[0], 0, a.pads[1]] : undefined,
    });
    return tf.squeeze(y, [2]);
  }
  if (spatial !== 2) throw new UnsupportedError(`${kind === 'max' ? 'MaxPool' : 'AveragePool'} with ${spatial} spatial dimensions is not supported by the executor`);
  const inSp = X.shape.slice(2);
  const { begin, end } = explicitPads(inSp, a.kernelShape, a.strides, a.dilations, a.autoPad, a.pads);
  const extra = [0, 1].map((i) => {
    if (!a.ceilMode) return 0;
    const dk = (a.kernelShape[i] - 1) * a.dilations[i] + 1;
    const span = inSp[i] + begin[i] + end[i];
    let out = Math.ceil((span - dk) / a.strides[i]) + 1;
    if ((out - 1) * a.strides[i] >= inSp[i] + begin[i]) out--;
    return Math.max(0, (out - 1) * a.strides[i] + dk - span);
  });
  // tfjs pools float32 only; integer inputs (MaxPool uint8/int8) pool exactly as float32 and convert back.
  const x = tf.transpose(X.dtype === 'float32' ? X : tf.cast(X, 'float32'), [0, 2, 3, 1]);
  const pads: [number, number][] = [[0, 0], [begin[0], end[0] + extra[0]], [begin[1], end[1] + extra[1]], [0, 0]];
  const k = a.kernelShape as [number, number];
  const s = a.strides as [number, number];
  const d = a.dilations as [number, number];
  let y: T;
  if (kind === 'max') {
    // No padding (the usual 2x2 pool) skips the pad and its gradient's slice: 2 full copies per pool.
    const padded = pads.some(([b, e]) => b !== 0 || e !== 0) ? tf.pad(x, pads, -Infinity) : x;
    y = tf.pool(padded as Tensor4D, k, 'max', 'valid', d, s);
  } else {
    const sum = tf.pool(tf.pad(x, pads, 0) as Tensor4D, k, 'avg', 'valid', d, s);
    const ones = tf.ones([1, inSp[0], inSp[1], 1]);
    const inner = a.countIncludePad ? tf.pad(ones, [[0, 0], [begin[0], end[0]], [begin[1], end[1]], [0, 0]], 1) : ones;
    const mask = tf.pad(inner, a.countIncludePad
      ? [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]]
      : pads, 0) as Tensor4D;
    y = tf.div(sum, tf.pool(mask, k, 'avg', 'valid', d, s));
  }
  const out = tf.transpose(y, [0, 3, 1, 2]);
  return X.dtype === 'float32' ? out : tf.cast(out, X.dtype);
}

function poolAttrs(c: OpContext): PoolAttrs {
  const n = c.node;
  const kernelShape = n.attrInts('kernel_shape');
  const r = kernelShape.length;
  if (n.outputs.length > 1 && n.outputs[1].name !== '') throw new UnsupportedError(`${n.describe()}: the Indices output of MaxPool is not supported`);
  return {
    autoPad: n.attrString('auto_pad', 'NOTSET'),
    ceilMode: n.attrInt('ceil_mode', 0),
    countIncludePad: n.attrInt('count_include_pad', 0),
    dilations: n.attrInts('dilations', Array(r).fill(1)),
    kernelShape,
    pads: n.attributes.has('pads') ? n.attrInts('pads') : undefined,
    strides: n.attrInts('strides', Array(r).fill(1)),
  };
}

/** Global pools reduce every spatial axis, keeping them as size 1. */
export function GlobalPool(tf: TF, X: T, kind: 'max' | 'avg'): T {
  const axes = [...Array(X.rank).keys()].slice(2);
  return kind === 'max' ? tf.max(X, axes, true) : tf.mean(X, axes, true);
}

export const poolingOps: OpTable = {
  MaxPool: (c, i) => Pool(c.tf, need(c, i, 0), 'max', poolAttrs(c)),
  AveragePool: (c, i) => Pool(c.tf, need(c, i, 0), 'avg', poolAttrs(c)),
  GlobalAveragePool: (c, i) => GlobalPool(c.tf, need(c, i, 0), 'avg'),
  GlobalMaxPool: (c, i) => GlobalPool(c.tf, need(c, i, 0), 'max'),
};
