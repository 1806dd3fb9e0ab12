import type * as tfjs from '@tensorflow/tfjs';
import type { Node } from '../../ir';

/** The tfjs op library. Injected (not imported) so tests can substitute it and the IR stays runtime-free. */
export type TF = typeof tfjs;
export type T = tfjs.Tensor;

/** What an op implementation may read besides its inputs. */
export interface OpContext {
  readonly tf: TF;
  readonly node: Node;
  /** Opset version of the node's domain (attribute vs input forms differ across opsets). */
  readonly opset: number;
  /**
   * Set while training with batch statistics (RunOptions.batchStats): an inference-form
   * BatchNormalization normalizes with its batch's mean and variance and reports them here.
   */
  readonly batchStats?: BatchStatsHook;
}

/** Training with batch statistics: which BatchNormalization nodes take them, and where their batch mean and (population) variance go. */
export interface BatchStatsHook {
  has(node: Node): boolean;
  /** The batch's per-channel mean and (population) variance, and the values per channel. */
  update(node: Node, mean: Float32Array, variance: Float32Array, count: number): void;
}

/** An ONNX op on tfjs tensors. Omitted optional inputs arrive as null. */
export type OpImpl = (ctx: OpContext, inputs: readonly (T | null)[]) => T | T[];

export type OpTable = Readonly<Record<string, OpImpl>>;

/** What the executor cannot take of a node, read from the node alone (its attributes, the opset): a reason, or null when it takes it. */
export type OpLimit = (n: Node, opset: number) => string | null;

/** Integer values of a small constant-like tensor (shapes, axes, pads). Reads it synchronously. */
export function intsOf(t: T | null | undefined): number[] | undefined {
  if (!t) return undefined;
  return Array.from(t.dataSync() as ArrayLike<number>, Number);
}

/** Normalizes a possibly negative axis. */
export function axisOf(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Input `i`, which the op requires. */
export function need(ctx: OpContext, inputs: readonly (T | null)[], i: number): T {
  const t = inputs[i];
  if (!t) throw new Error(`${ctx.node.describe()}: missing required input ${i}`);
  return t;
}
