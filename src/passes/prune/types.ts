import type { Node, Value } from '../../ir';

/** magnitude |w|; saliency: first-order Taylor on data; sparsegpt: SparseGPT's OBS mask and weight update on data (src/pipeline/sparsegpt.ts). */
export type Criterion = 'magnitude' | 'saliency' | 'sparsegpt';
export type Pattern = 'unstructured' | 'n:m' | 'channel';
export type Scope = 'layer' | 'global';

/** Options shared by the CLI (`mc prune`) and the library. */
export interface PruneOptions {
  /** Fraction of weights (unstructured), or of output channels (channel), to remove; in [0, 1). */
  sparsity: number;
  criterion: Criterion;
  pattern: Pattern;
  /** n:m pattern: n of every m consecutive weights along the reduction axis are zero. */
  nm: { n: number; m: number };
  scope: Scope;
  /** Globs matched against node names and weight names; matching layers are left alone. */
  exclude: readonly string[];
  /** Global scope: every layer keeps at least this fraction of its weights (or channels). */
  minDensity: number;
  /**
   * Saliency channel pruning: prune in this many rounds, re-scoring the partly
   * pruned model between rounds (see rounds.ts). Default `defaultRounds`: 4 for
   * saliency + channel, else 1; other criteria and patterns take only 1.
   */
  rounds?: number;
  /**
   * Channel pattern: each group keeps a multiple of this many channels (the nearest,
   * at least one multiple; groups smaller than it are pruned as usual). CPU kernels
   * block channels by 8 or 16 (onnxruntime's NCHWc convolutions), and counts off the
   * block can make a pruned model slower than the original. Default 1 (exact counts).
   */
  channelMultiple?: number;
}

/** Rounds when none are given: 4 for saliency channel pruning (one-shot collapses at 50% per layer), 1 otherwise. */
export function defaultRounds(o: Pick<PruneOptions, 'criterion' | 'pattern'>): number {
  return o.criterion === 'saliency' && o.pattern === 'channel' ? 4 : 1;
}

export const PRUNE_DEFAULTS: Omit<PruneOptions, 'sparsity'> = {
  criterion: 'magnitude', pattern: 'unstructured', nm: { n: 2, m: 4 }, scope: 'layer', exclude: [], minDensity: 0.05,
};

/** A prunable weight: the 'weight' input of a Conv, Gemm/MatMul (constant B), Dense or Conv2D. */
export interface PruneTarget {
  /** The layer's name (node name, else the weight's name). */
  readonly layer: string;
  readonly node: Node;
  readonly value: Value;
  readonly outAxis: number;
  readonly inAxis: number;
}

/**
 * Importance scores for one target. `element` has one score per weight
 * (unstructured, n:m); `channel` one per output channel (channel pattern).
 */
export interface TargetScores {
  element?: Float32Array;
  channel?: Float64Array;
}

export type ScoreMap = ReadonlyMap<Value, TargetScores>;

export interface LayerReport {
  layer: string;
  weight: string;
  op: string;
  shape: number[];
  /** Shape after channel pruning (equals `shape` otherwise). */
  newShape: number[];
  params: number;
  zeros: number;
  sparsity: number;
  /** Channel pattern: output channels removed / before. */
  channelsRemoved?: number;
  channels?: number;
  /** The element form the pruned weight is written in, when not plain float32 (zero.ts): 'float16', 'tfjs float16', 'tfjs uint8'... */
  stored?: string;
  /** Set when a narrower stored form could not hold an exact zero, so the weight is now float32: why. */
  widened?: string;
}

export interface SkippedLayer {
  layer: string;
  reason: string;
  /**
   * The weight's element count, for a layer the pruner could not take (stored quantized or
   * float16, another dtype): it counts towards the requested fraction as kept. Absent for an
   * excluded layer (the user's choice); channel mode counts such layers in channelFraction instead.
   */
  params?: number;
}

/** Channel pattern: one dependency group (layers whose channels are removed together). */
export interface GroupReport {
  /** The layers whose output channels (filters) the group holds. */
  layers: string[];
  /** Channels of the group (each may span several layers' filters). */
  channels: number;
  removed: number;
  /** Why the group could not be pruned; empty when it was prunable. */
  reasons: string[];
}

export interface PruneChanges {
  criterion: Criterion;
  pattern: Pattern;
  scope: Scope;
  targetSparsity: number;
  /** Channel pattern: pruning rounds (scores recomputed on the partly pruned model before each). */
  rounds?: number;
  nm?: { n: number; m: number };
  layers: LayerReport[];
  skipped: SkippedLayer[];
  /** Zeros / parameters over every pruned layer (channel: removed / original parameters). */
  globalSparsity: number;
  /** Channel pattern: multiply-accumulates per sample before and after (Conv and Gemm/MatMul), when shapes are known. */
  flops?: { before: number; after: number };
  /** Channel pattern: every dependency group, prunable or not (with its reasons). */
  groups?: GroupReport[];
  /**
   * Channel pattern: output channels removed over the output channels of every layer
   * considered. Excluded layers and layers whose channels are graph outputs (fixed by
   * the model's interface) are not counted; other layers that could not be pruned count as kept.
   */
  channelFraction?: { requested: number; achieved: number; removed: number; channels: number };
  /** SparseGPT: the passes over the calibration data and what fell back to magnitude. */
  reconstruction?: ReconstructionFacts;
}

export interface ReconstructionFacts {
  /** Passes over the calibration data: one per sequential depth, plus one for global scope's ranking. */
  passes: number;
  samples: number;
  /** Layers pruned by magnitude because their H was singular after dampening, with why. */
  fallbacks: { layer: string; reason: string }[];
  seconds: { collect: number; reconstruct: number };
}
