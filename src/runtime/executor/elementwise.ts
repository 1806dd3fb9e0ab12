import { axisOf, intsOf, need, OpContext, OpTable, T, TF } from './types';

/** Elementwise and activation ops (onnx.ai/onnx/operators). Broadcasting is numpy-style, as in tfjs. */

/** Clip; a missing bound (opset >= 11 optional input) leaves that side open. */
export function Clip(tf: TF, X: T, min?: number, max?: number): T {
  let y = X;
  if (min !== undefined) y = tf.maximum(y, tf.scalar(min, X.dtype));
  if (max !== undefined) y = tf.minimum(y, tf.scalar(max, X.dtype));
  return y === X ? tf.clone(X) : y;
}

/** HardSigmoid: max(0, min(1, alpha*x + beta)). */
export function HardSigmoid(tf: TF, X: T, { alpha = 0.2, beta = 0.5 }): T {
  return tf.clipByValue(tf.add(tf.mul(X, alpha), beta), 0, 1);
}

/** HardSwish: x * max(0, min(1, x/6 + 1/2)). */
export function HardSwish(tf: TF, X: T): T {
  return tf.mul(X, HardSigmoid(tf, X, { alpha: 1 / 6, beta: 0.5 }));
}

/**
 * Softmax / LogSoftmax. Opset >= 13 normalizes along `axis` (default -1); earlier
 * opsets coerce the input to 2-D at `axis` (default 1) and normalize the flattened rows.
 */
export function Softmax(tf: TF, X: T, { axis, opset, log }: { axis?: number; opset: number; log: boolean }): T {
  const f = (t: T): T => (log ? tf.logSoftmax(t) : tf.softmax(t));
  const rank = X.rank;
  if (opset >= 13) {
    const a = axisOf(axis ?? -1, rank);
    if (a === rank - 1) return f(X);
    const perm = [...Array(rank).keys()];
    [perm[a], perm[rank - 1]] = [perm[rank - 1], perm[a]];
    return tf.transpose(f(tf.transpose(X, perm)), perm);
  }
  const a = axisOf(axis ?? 1, rank);
  const rows = X.shape.slice(0, a).reduce((p, d) => p * d, 1);
  return tf.reshape(f(tf.reshape(X, [rows, X.size / Math.max(rows, 1)])), X.shape);
}

const ONNX_TO_TF_DTYPE: Record<number, 'float32' | 'int32' | 'bool'> = {
  1: 'float32', 10: 'float32', 11: 'float32', 16: 'float32', // float, float16, double, bfloat16 all compute as float32
  2: 'int32', 3: 'int32', 4: 'int32', 5: 'int32', 6: 'int32', 7: 'int32', 12: 'int32', 13: 'int32', // int64/uint64 computed as int32
  9: 'bool',
};

export function Cast(ctx: OpContext, X: T): T {
  const to = ctx.node.attrInt('to');
  const d = ONNX_TO_TF_DTYPE[to];
  if (!d) throw new Error(`${ctx.node.describe()}: Cast to ONNX type ${to} is not supported`);
  if (d === 'int32' && X.dtype === 'float32') return ctx.tf.cast(ctx.tf.sign(X).mul(ctx.tf.floor(ctx.tf.abs(X))), 'int32'); // truncate toward zero
  return ctx.tf.cast(X, d);
}

/** Clip bounds: attributes before opset 11, optional inputs from 11. */
function clipBounds(ctx: OpContext, ins: readonly (T | null)[]): [number | undefined, number | undefined] {
  const n = ctx.node;
  if (ctx.opset < 11) return [n.attributes.has('min') ? n.attrFloat('min') : undefined, n.attributes.has('max') ? n.attrFloat('max') : undefined];
  const first = (t: T | null | undefined) => (t ? Number((t.dataSync() as ArrayLike<number>)[0]) : undefined);
  return [first(ins[1]), first(ins[2])];
}

function binary(f: (tf: TF, a: T, b: T) => T) {
  return (c: OpContext, i: readonly (T | null)[]): T => f(c.tf, need(c, i, 0), need(c, i, 1));
}

function unary(f: (tf: TF, a: T) => T) {
  return (c: OpContext, i: readonly (T | null)[]): T => f(c.tf, need(c, i, 0));
}

/**
 * Max, Min, Sum and Mean: elementwise over one or more inputs, numpy-style broadcasting
 * (onnx.ai/onnx/operators). Max and Min broadcast their inputs first: tfjs 4.22's Maximum
 * and Minimum gradients do not sum over broadcast axes (a [2,1] input got a [2,3] gradient).
 */
function variadic(f: (tf: TF, a: T, b: T) => T, { mean = false, broadcastFirst = false } = {}) {
  return (c: OpContext, i: readonly (T | null)[]): T => {
    let xs = i.map((_, k) => need(c, i, k));
    if (broadcastFirst) {
      const shape = xs.reduce<number[]>((acc, x) => c.tf.broadcast_util.assertAndGetBroadcastShape(acc, x.shape), []);
      xs = xs.map((x) => (x.shape.length === shape.length && x.shape.every((d, k) => d === shape[k]) ? x : c.tf.broadcastTo(x, shape)));
    }
    let y = xs.slice(1).reduce((acc, x) => f(c.tf, acc, x), xs[0]);
    if (mean) y = c.tf.div(y, c.tf.scalar(xs.length, y.dtype));
    return y === i[0] ? c.tf.clone(y) : y;
  };
}

/** ONNX integer Div truncates toward zero; tfjs int division floors. */
function Div(tf: TF, A: T, B: T): T {
  if (A.dtype === 'int32' && B.dtype === 'int32') {
    const q = tf.div(tf.cast(A, 'float32'), tf.cast(B, 'float32'));
    return tf.cast(tf.mul(tf.sign(q), tf.floor(tf.abs(q))), 'int32');
  }
  return tf.div(A, B);
}

export const elementwiseOps: OpTable = {
  Add: binary((tf, a, b) => tf.add(a, b)),
  Sub: binary((tf, a, b) => tf.sub(a, b)),
  Mul: binary((tf, a, b) => tf.mul(a, b)),
  Div: binary(Div),
  Pow: binary((tf, a, b) => tf.pow(a, b.dtype === a.dtype ? b : tf.cast(b, a.dtype))),
  Sqrt: unary((tf, a) => tf.sqrt(a)),
  Erf: unary((tf, a) => tf.erf(a)),
  Relu: unary((tf, a) => tf.relu(a)),
  Sigmoid: unary((tf, a) => tf.sigmoid(a)),
  Tanh: unary((tf, a) => tf.tanh(a)),
  Exp: unary((tf, a) => tf.exp(a)),
  Log: unary((tf, a) => tf.log(a)),
  Neg: unary((tf, a) => tf.neg(a)),
  Abs: unary((tf, a) => tf.abs(a)),
  Reciprocal: unary((tf, a) => tf.reciprocal(a)),
  Identity: unary((tf, a) => tf.clone(a)),
  HardSwish: unary(HardSwish),
  LeakyRelu: (c, i) => c.tf.leakyRelu(need(c, i, 0), c.node.attrFloat('alpha', 0.01)),
  HardSigmoid: (c, i) => HardSigmoid(c.tf, need(c, i, 0), { alpha: c.node.attrFloat('alpha', 0.2), beta: c.node.attrFloat('beta', 0.5) }),
  Clip: (c, i) => Clip(c.tf, need(c, i, 0), ...clipBounds(c, i)),
  Softmax: (c, i) => Softmax(c.tf, need(c, i, 0), { axis: optInt(c, 'axis'), opset: c.opset, log: false }),
  LogSoftmax: (c, i) => Softmax(c.tf, need(c, i, 0), { axis: optInt(c, 'axis'), opset: c.opset, log: true }),
  Cast: (c, i) => Cast(c, need(c, i, 0)),
  Max: variadic((tf, a, b) => tf.maximum(a, b), { broadcastFirst: true }),
  Min: variadic((tf, a, b) => tf.minimum(a, b), { broadcastFirst: true }),
  Sum: variadic((tf, a, b) => tf.add(a, b)),
  Mean: variadic((tf, a, b) => tf.add(a, b), { mean: true }),
};

export function optInt(c: OpContext, name: string): number | undefined {
  return c.node.attributes.has(name) ? c.node.attrInt(name) : undefined;
}

