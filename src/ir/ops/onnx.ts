import { fixed, OpSpec } from './types';

/**
 * ONNX weight layouts (onnx.ai/onnx/operators):
 *  Conv W [M, C/group, kH, kW]: out axis 0, reduction axis 1.
 *  ConvTranspose W [C, M/group, kH, kW]: out axis 1, reduction axis 0.
 *  Gemm B [K, N], or [N, K] with transB=1.
 *  MatMul B [..., K, N]: out axis -1, reduction axis -2.
 *  Gather data [vocab, dim] used as an embedding table: one scale per row.
 */
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
      { input: 1, role: 'weight', outAxis: fixed(1), inAxis: fixed(0) },
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
  { domain: '', opType: 'MatMul', weights: [{ input: 1, role: 'weight', outAxis: fixed(-1), inAxis: fixed(-2) }] },
  { domain: '', opType: 'Gather', weights: [{ input: 0, role: 'embedding', outAxis: fixed(0), inAxis: fixed(-1) }] },
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
