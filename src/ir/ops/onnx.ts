import type { Node } from '../node';
import type { Tensor } from '../tensor';
import { einsumWeightAxes } from './einsum';
import { fixed, OpSpec, WeightSpec } from './types';

/**
 * ONNX weight layouts (onnx.ai/onnx/operators):
 *  Conv W [M, C/group, kH, kW]: out axis 0, reduction axis 1.
 *  ConvTranspose W [C, M/group, kH, kW]: out axis 1 when group = 1 (see `convTransposeOut`), reduction axis 0.
 *  Gemm B [K, N], or [N, K] with transB=1.
 *  MatMul(X, B) with B [..., K, N]: out axis -1, reduction axis -2.
 *  MatMul(A, X) with a constant A [..., M, K]: out axis -2, reduction axis -1.
 *  Einsum with a constant operand and a plain-matmul equation: axes from the equation (./einsum.ts).
 *  LSTM/GRU/RNN W [dirs, G·hidden, input], R [dirs, G·hidden, hidden] (G = 4, 3, 1 gates):
 *   gate rows on axis 1, reduction axis 2; B [dirs, 2·G·hidden] is a bias; LSTM's P [dirs, 3·hidden] peepholes norm-like.
 *  Gather data [vocab, dim] used as an embedding table: one scale per row.
 */

/** MatMul B: [K] or [..., K, N]. A 1-D B has no output axis (its K axis is the only one). */
const matmulB: WeightSpec = {
  input: 1, role: 'weight',
  outAxis: (_n, shape) => (shape.length >= 2 ? -1 : undefined),
  inAxis: (_n, shape) => (shape.length >= 2 ? -2 : -1),
};

/**
 * MatMul A constant: MatMul(W [..., M, K], X [..., K, N]); a 1-D A [K] has no output axis.
 * Emitters whose kernels take the weight as B (MatMulNBits, MatMulInteger) check the slot and leave A to DequantizeLinear.
 */
const matmulA: WeightSpec = {
  input: 0, role: 'weight',
  outAxis: (_n, shape) => (shape.length >= 2 ? -2 : undefined),
  inAxis: fixed(-1),
};

/**
 * ConvTranspose W [C_in, C_out/group, kH, kW]: the output channel of element (c, m)
 * is (c / (C_in/group))·(C_out/group) + m, so axis 1 holds the output channels only
 * when group = 1. With groups, index m of axis 1 is channel m of every group, and no
 * single axis of W is the output channel: a DequantizeLinear axis cannot express a
 * per-output-channel scale without a reshape, and channel pruning along axis 1 would
 * remove one channel from every group. So there is no out axis: per-channel
 * quantization falls back to one scale per tensor, and channel pruning leaves it.
 * (A scale per input channel, axis 0, would be a finer valid weight-only form, but
 * outAxis also drives channel pruning, which must not take axis 0 for output channels.)
 */
const convTransposeOut = (n: Node): number | undefined => (n.attrInt('group', 1) === 1 ? 1 : undefined);

/** Gate rows of an LSTM/GRU/RNN W or R [dirs, G·hidden, ·] on axis 1; the sum runs over axis 2. */
const recurrentWeight = (input: number): WeightSpec => ({ input, role: 'weight', outAxis: fixed(1), inAxis: fixed(2) });

const recurrent = (opType: string): OpSpec => ({
  domain: '', opType,
  weights: [
    recurrentWeight(1),
    recurrentWeight(2),
    { input: 3, role: 'bias' },
    ...(opType === 'LSTM' ? [{ input: 7, role: 'norm' as const }] : []),
  ],
});

const FLOATS = new Set(['float32', 'float16', 'bfloat16', 'float64']);

/**
 * Gather reads an embedding table only when its data is a float matrix [vocab, dim]:
 * decided from the dtype (float) and rank (2), so an int64 shape table or a 1-D
 * lookup list read by Gather is no weight.
 */
function embeddingTable(_n: Node, t: Tensor): true | string {
  if (FLOATS.has(t.dtype) && t.shape.length === 2) return true;
  return `Gather data ${t.dtype}[${t.shape.join(',')}] is not an embedding table (a float matrix [vocab, dim])`;
}

/** Einsum operand `input` when constant: a weight if the equation is a plain matmul for it. */
function einsumOperand(input: number): WeightSpec {
  const axes = (n: Node, rank: number) => einsumWeightAxes(n.attrString('equation', ''), input, rank);
  const pick = (n: Node, shape: readonly number[], key: 'outAxis' | 'inAxis'): number | undefined => {
    const a = axes(n, shape.length);
    return typeof a === 'string' ? undefined : a[key];
  };
  return {
    input, role: 'weight',
    applies: (n, t) => {
      const a = axes(n, t.shape.length);
      return typeof a === 'string' ? a : true;
    },
    outAxis: (n, shape) => pick(n, shape, 'outAxis'),
    inAxis: (n, shape) => pick(n, shape, 'inAxis'),
  };
}

export const onnxOps: readonly OpSpec[] = [
  {
    domain: '', opType: 'Conv',
    weights: [
      { input: 1, role: 'weight', outAxis: fixed(0), inAxis: fixed(1) },
      { input: 2, role: 'bias' },
    ],
  },
  {
    domain: '', opType: 'ConvTranspose',
    weights: [
      { input: 1, role: 'weight', outAxis: convTransposeOut, inAxis: fixed(0) },
      { input: 2, role: 'bias' },
    ],
  },
  {
    domain: '', opType: 'Gemm',
    weights: [
      {
        input: 1, role: 'weight',
        outAxis: (n) => (n.attrInt('transB', 0) ? 0 : 1),
        inAxis: (n) => (n.attrInt('transB', 0) ? 1 : 0),
      },
      { input: 2, role: 'bias' },
    ],
  },
  { domain: '', opType: 'MatMul', weights: [matmulB, matmulA] },
  { domain: '', opType: 'Einsum', weights: [einsumOperand(0), einsumOperand(1)] },
  ...['LSTM', 'GRU', 'RNN'].map(recurrent),
  { domain: '', opType: 'Gather', weights: [{ input: 0, role: 'embedding', outAxis: fixed(0), inAxis: fixed(-1), applies: embeddingTable }] },
  {
    domain: '', opType: 'BatchNormalization',
    weights: [1, 2, 3, 4].map((input) => ({ input, role: 'norm' as const })),
  },
  {
    domain: '', opType: 'LayerNormalization',
    weights: [{ input: 1, role: 'norm' }, { input: 2, role: 'norm' }],
  },
  ...['Relu', 'Clip', 'MaxPool', 'Reshape', 'Transpose', 'Concat', 'Flatten', 'Squeeze', 'Unsqueeze', 'Resize',
    'Identity', 'Slice', 'Split', 'Expand', 'Tile', 'GatherElements', 'DepthToSpace', 'SpaceToDepth', 'Pad']
    .map((opType): OpSpec => ({ domain: '', opType, weights: [], scalePreserving: true })),
];
