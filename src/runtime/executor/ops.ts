import { convOps } from './conv';
import { convTransposeLimits, convTransposeOps } from './conv-transpose';
import { elementwiseOps } from './elementwise';
import { normalizationOps } from './normalization';
import { poolingOps } from './pooling';
import { reductionOps } from './reduction';
import { resizeLimits, resizeOps } from './resize';
import { shapeOps } from './shape';
import type { OpLimit, OpTable } from './types';

/** Every ONNX (default domain) op the executor implements, one file per family. */
export const defaultOnnxOps: OpTable = {
  ...elementwiseOps,
  ...convOps,
  ...convTransposeOps,
  ...resizeOps,
  ...poolingOps,
  ...shapeOps,
  ...reductionOps,
  ...normalizationOps,
};

/** Per op, what the executor cannot take of a node, read from the node before running (unsupportedOps); absent: all of it. */
export const opLimits: Readonly<Record<string, OpLimit>> = {
  ...convTransposeLimits,
  ...resizeLimits,
};
