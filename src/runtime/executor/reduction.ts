import { axisOf, intsOf, need, OpContext, OpTable, T, TF } from './types';

type Reducer = 'mean' | 'sum' | 'max' | 'min';

/**
 * Reduce* ops. `axes` is an attribute up to opset 17 (ReduceSum: 12) and an optional
 * input afterwards; with no axes every axis is reduced unless noop_with_empty_axes.
 */
export function Reduce(tf: TF, X: T, kind: Reducer, { axes, keepdims = 1, noopWithEmptyAxes = 0 }: { axes?: number[]; keepdims?: number; noopWithEmptyAxes?: number }): T {
  if (!axes || axes.length === 0) {
    if (noopWithEmptyAxes) return tf.clone(X);
    axes = [...Array(X.rank).keys()];
  }
  const ax = axes.map((a) => axisOf(a, X.rank));
  const keep = keepdims === 1;
  switch (kind) {
    case 'mean': return tf.mean(X, ax, keep);
    case 'sum': return tf.sum(X, ax, keep);
    case 'max': return tf.max(X, ax, keep);
    case 'min': return tf.min(X, ax, keep);
  }
}

function reducer(kind: Reducer, inputSince: number) {
  return (c: OpContext, i: readonly (T | null)[]): T => {
    const axes = c.opset >= inputSince ? intsOf(i[1]) : c.node.attributes.has('axes') ? c.node.attrInts('axes') : undefined;
    return Reduce(c.tf, need(c, i, 0), kind, {
      axes, keepdims: c.node.attrInt('keepdims', 1), noopWithEmptyAxes: c.node.attrInt('noop_with_empty_axes', 0),
    });
  };
}

export const reductionOps: OpTable = {
  ReduceMean: reducer('mean', 18),
  ReduceSum: reducer('sum', 13),
  ReduceMax: reducer('max', 18),
  ReduceMin: reducer('min', 18),
};
