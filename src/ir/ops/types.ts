import type { Node } from '../node';

/** What a weight input is for. Quantizers take 'weight' and 'embedding'; pruners take 'weight'. */
export type WeightRole = 'weight' | 'bias' | 'embedding' | 'norm';

/**
 * One constant input of an op. Axes may depend on attributes (Gemm transB) and
 * on the weight's rank (MatMul [.., K, N]), so they are functions of the node.
 * A negative axis counts from the end of the weight's shape.
 */
export interface WeightSpec {
  /** Input slot (ONNX, TF ops) or parameter name (Keras layers: 'kernel', 'bias', ...). */
  readonly input: number | string;
  readonly role: WeightRole;
  /** Axis of output channels / filters: per-channel scales and channel pruning run along it. */
  readonly outAxis?: (node: Node) => number;
  /** Reduction (input-channel) axis: block-wise quantization and N:M patterns run along it. */
  readonly inAxis?: (node: Node) => number;
}

export interface OpSpec {
  /** '' (ONNX default domain), 'com.microsoft', 'tf', 'keras'. */
  readonly domain: string;
  readonly opType: string;
  readonly weights: readonly WeightSpec[];
  /**
   * True when the op moves or selects values without changing them (Reshape,
   * Transpose, MaxPool, Concat...), so a quantized tensor keeps its scale through it.
   */
  readonly scalePreserving?: boolean;
}

export const fixed = (axis: number) => (): number => axis;
