import type { Node } from '../node';
import type { Tensor } from '../tensor';

/** What a weight input is for. Quantizers take 'weight' and 'embedding'; pruners take 'weight'. */
export type WeightRole = 'weight' | 'bias' | 'embedding' | 'norm';

/**
 * One constant input of an op. Axes may depend on attributes (Gemm transB,
 * ConvTranspose group, the Einsum equation) and on the weight's shape
 * (MatMul [.., K, N], a 1-D MatMul operand), so they are functions of the node
 * and the weight's shape. A negative axis counts from the end of the shape;
 * undefined means the weight has no such axis.
 */
export interface WeightSpec {
  /** Input slot (ONNX, TF ops) or parameter name (Keras layers: 'kernel', 'bias', ...). */
  readonly input: number | string;
  readonly role: WeightRole;
  /**
   * Axis of output channels / filters: per-channel scales and channel pruning run along it.
   * Undefined when no single axis holds the output channels (grouped ConvTranspose, a 1-D MatMul operand).
   */
  readonly outAxis?: (node: Node, shape: readonly number[]) => number | undefined;
  /** Reduction (input-channel) axis: block-wise quantization and N:M patterns run along it. */
  readonly inAxis?: (node: Node, shape: readonly number[]) => number | undefined;
  /**
   * Whether the constant in this slot plays `role` in this node: true, or why
   * not (an int64 shape table read by Gather is no embedding; an Einsum that is
   * not a plain matmul has no weight axes). Absent: always.
   */
  readonly applies?: (node: Node, weight: Tensor) => true | string;
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
