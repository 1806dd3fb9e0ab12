import { fixed, OpSpec } from './types';

/**
 * TensorFlow op weight layouts (graph-model nodes, domain 'tf'):
 *  Conv2D filter [H, W, in, out] (HWIO): out axis 3, reduction axis 2.
 *  DepthwiseConv2dNative filter [H, W, in, multiplier]: each input channel is its own
 *    group, so per-channel scales run along axis 2.
 *  Conv2DBackpropInput (transposed conv) filter [H, W, out, in]: out axis 2, reduction 3.
 *  MatMul b [K, N], or [N, K] with transpose_b.
 *  Fused variants (_FusedConv2D, _FusedMatMul) carry the bias as input 2.
 */
const transposeB = (n: { attributes: Map<string, { type: string; value: unknown }> }): boolean => {
  const a = n.attributes.get('transpose_b');
  return a?.type === 'json' && (a.value as { b?: boolean }).b === true;
};

const conv2d = { input: 1, role: 'weight' as const, outAxis: fixed(3), inAxis: fixed(2) };
const matmulB = {
  input: 1, role: 'weight' as const,
  outAxis: (n: Parameters<typeof transposeB>[0]) => (transposeB(n) ? 0 : 1),
  inAxis: (n: Parameters<typeof transposeB>[0]) => (transposeB(n) ? 1 : 0),
};

export const tfOps: readonly OpSpec[] = [
  { domain: 'tf', opType: 'Conv2D', weights: [conv2d] },
  { domain: 'tf', opType: '_FusedConv2D', weights: [conv2d, { input: 2, role: 'bias' }] },
  { domain: 'tf', opType: 'DepthwiseConv2dNative', weights: [{ input: 1, role: 'weight', outAxis: fixed(2), inAxis: fixed(0) }] },
  { domain: 'tf', opType: 'FusedDepthwiseConv2dNative', weights: [{ input: 1, role: 'weight', outAxis: fixed(2), inAxis: fixed(0) }, { input: 2, role: 'bias' }] },
  { domain: 'tf', opType: 'Conv2DBackpropInput', weights: [{ input: 1, role: 'weight', outAxis: fixed(2), inAxis: fixed(3) }] },
  { domain: 'tf', opType: 'MatMul', weights: [matmulB] },
  { domain: 'tf', opType: '_FusedMatMul', weights: [matmulB, { input: 2, role: 'bias' }] },
  { domain: 'tf', opType: 'BiasAdd', weights: [{ input: 1, role: 'bias' }] },
  { domain: 'tf', opType: 'GatherV2', weights: [{ input: 0, role: 'embedding', outAxis: fixed(0), inAxis: fixed(-1) }] },
  { domain: 'tf', opType: 'FusedBatchNorm', weights: [1, 2, 3, 4].map((input) => ({ input, role: 'norm' as const })) },
  { domain: 'tf', opType: 'FusedBatchNormV3', weights: [1, 2, 3, 4].map((input) => ({ input, role: 'norm' as const })) },
  ...['Relu', 'Relu6', 'MaxPool', 'Reshape', 'Transpose', 'ConcatV2', 'Squeeze', 'ExpandDims', 'Identity', 'Slice', 'StridedSlice', 'Pad']
    .map((opType): OpSpec => ({ domain: 'tf', opType, weights: [], scalePreserving: true })),
];
