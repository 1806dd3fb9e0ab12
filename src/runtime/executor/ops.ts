import { convOps } from './conv';
import { convTransposeOps } from './conv-transpose';
import { elementwiseOps } from './elementwise';
import { normalizationOps } from './normalization';
import { poolingOps } from './pooling';
import { reductionOps } from './reduction';
import { shapeOps } from './shape';
import type { OpTable } from './types';

/** Every ONNX (default domain) op the executor implements, one file per family. */
export const defaultOnnxOps: OpTable = {
  ...elementwiseOps,
  ...convOps,
  ...convTransposeOps,
  ...poolingOps,
  ...shapeOps,
  ...reductionOps,
  ...normalizationOps,
};
