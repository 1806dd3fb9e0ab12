import { fixed, OpSpec } from './types';

/**
 * Keras layer weights (layers-model, domain 'keras'), identified by parameter name:
 *  Dense kernel [in, out]; Conv1D/2D/3D kernel [..spatial, in, out];
 *  DepthwiseConv2D depthwise_kernel [H, W, in, multiplier];
 *  Conv2DTranspose kernel [H, W, out, in]; Embedding embeddings [vocab, dim].
 */
export const kerasOps: readonly OpSpec[] = [
  { domain: 'keras', opType: 'Dense', weights: [{ input: 'kernel', role: 'weight', outAxis: fixed(-1), inAxis: fixed(-2) }, { input: 'bias', role: 'bias' }] },
  ...['Conv1D', 'Conv2D', 'Conv3D'].map((opType): OpSpec => ({
    domain: 'keras', opType,
    weights: [{ input: 'kernel', role: 'weight', outAxis: fixed(-1), inAxis: fixed(-2) }, { input: 'bias', role: 'bias' }],
  })),
  {
    domain: 'keras', opType: 'DepthwiseConv2D',
    weights: [{ input: 'depthwise_kernel', role: 'weight', outAxis: fixed(2), inAxis: fixed(0) }, { input: 'bias', role: 'bias' }],
  },
  {
    domain: 'keras', opType: 'SeparableConv2D',
    weights: [
      { input: 'depthwise_kernel', role: 'weight', outAxis: fixed(2), inAxis: fixed(0) },
      { input: 'pointwise_kernel', role: 'weight', outAxis: fixed(3), inAxis: fixed(2) },
      { input: 'bias', role: 'bias' },
    ],
  },
  { domain: 'keras', opType: 'Conv2DTranspose', weights: [{ input: 'kernel', role: 'weight', outAxis: fixed(2), inAxis: fixed(3) }, { input: 'bias', role: 'bias' }] },
  { domain: 'keras', opType: 'Embedding', weights: [{ input: 'embeddings', role: 'embedding', outAxis: fixed(0), inAxis: fixed(-1) }] },
  {
    domain: 'keras', opType: 'BatchNormalization',
    weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((input) => ({ input, role: 'norm' as const })),
  },
  ...['Flatten', 'Reshape', 'MaxPooling2D', 'MaxPooling1D', 'Permute', 'Concatenate', 'ReLU', 'Dropout', 'ZeroPadding2D']
    .map((opType): OpSpec => ({ domain: 'keras', opType, weights: [], scalePreserving: true })),
];
