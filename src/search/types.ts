/**
 * `mc tune` as data: the options the CLI parses flags into, the trials the
 * search runs (one JSON line each in the trial log), and the result the CLI
 * renders. The search itself (sensitivity, greedy + reclaim, evolve) only
 * ever sees assignments (one rung per layer and dimension) and trial records.
 */
import type { Budgets, MetricName } from '../eval/types';

/** `mc tune --finetune-*`: what each pruned trial trains on (not the eval data), and how long. */
export interface TrialFinetune {
  data: string;
  labels?: string;
  /** The first `samples` training inputs (all when absent). */
  samples?: number;
  epochs?: number;
  lr?: number;
}

/** The dimensions a layer can be compressed along. */
export type SpaceName = 'quantize' | 'prune' | 'channels';

/**
 * What a weight can become along the quantize dimension: int4 with a block size (`int4-b128`;
 * plain `int4` is block 32, mc quantize's default), int4 by GPTQ (block 32, needs calibration
 * data), int8 (per channel), or float (left alone).
 */
export type QuantOption = 'int4' | `int4-b${number}` | 'int4-gptq' | 'int8' | 'float';

export type Strategy = 'greedy' | 'evolve';

/** What to minimise among plans that meet the constraint. */
export type SizeMeasure = 'weights' | 'file' | 'gzip';

export interface TuneOptions {
  /** The model file (ONNX or tfjs). */
  model: string;
  data: string;
  labels?: string;
  /** Chosen from output and label shapes when absent (as mc eval). */
  metric?: MetricName;
  /** Exactly one budget: the constraint every plan is held to (max-accuracy-drop, min-agreement, max-ppl-ratio, min-sqnr). */
  constraint: Budgets;
  space: SpaceName[];
  /** Quantize rungs, any order on the command line; kept most aggressive first (int4, int8, float). */
  options: QuantOption[];
  /** Calibration inputs for int4-gptq (the layers' Hessians); not the eval data. */
  calib?: string;
  /** Prune rungs (unstructured magnitude sparsity); dense (0) is always the safest rung. */
  sparsities: number[];
  /** A short distillation fine-tune after a plan's pruning (prune and channels spaces); see Dimension.finetune. */
  finetune?: TrialFinetune;
  strategy: Strategy;
  /** What "size" means; default weights (stored weight bytes), gzip when the space prunes. */
  sizeMeasure: SizeMeasure;
  maxTrials?: number;
  /** Milliseconds. */
  timeBudgetMs?: number;
  seed: number;
  /** Fraction of the data samples (the first ones) that sensitivity and search trials see; 1 = all. */
  subset: number;
  /** Worker threads measuring trials (1: the calling thread). */
  workers: number;
  /** Evolve: individuals per generation. */
  population: number;
  /** The trial log (JSON lines); with `resume`, records already in it are read back instead of run again. */
  log: string;
  resume: boolean;
  /** Stop after sensitivity. */
  sensitivityOnly: boolean;
}

/**
 * The rungs of one dimension, most aggressive first: quantize [int4, int8, float],
 * prune [0.75, 0.5, 0.25, 0]. The last rung is the safest; float and 0 (dense) leave the weight as it is.
 */
export interface Dimension {
  name: SpaceName;
  rungs: readonly (QuantOption | number)[];
  /** Quantize: the calibration inputs GPTQ reads (an absolute path), when a rung is int4-gptq. */
  calib?: string;
  /**
   * Prune and channels: the keys of a recipe finetune step (absolute paths) that a plan runs after
   * its prune steps whenever it prunes (NetAdapt's short-term fine-tune; `mc tune --finetune-data`).
   */
  finetune?: Record<string, string | number>;
}

/** Per layer (in layer order), per dimension (in dimension order): the rung index. */
export type Assignment = number[][];

/** Which part of the data a trial saw. */
export type Scope = 'subset' | 'all';

export interface TrialRecord {
  type: 'trial';
  /** 0-based, in the order the search asked for them. */
  id: number;
  /** The assignment and scope as one string: the log's key for resume. */
  key: string;
  phase: 'baseline' | 'uniform' | 'sensitivity' | 'greedy' | 'reclaim' | 'evolve' | 'netadapt' | 'final';
  scope: Scope;
  /** layer name → per dimension the rung's value ('int4', 0.5); only layers off their safest rung. */
  plan: Record<string, (QuantOption | number)[]>;
  /** The constraint's measured value (accuracy drop in points, agreement, ppl ratio), null on error. */
  value: number | null;
  /** How far inside the constraint (≥ 0 meets it; negative: by how much it is missed). */
  slack: number;
  passed: boolean;
  weightBytes: number;
  fileBytes: number;
  gzipBytes: number;
  /** Worst output SQNR against the float model (null: identical outputs). */
  sqnrDb: number | null;
  /** Top-1 (or the metric) of the candidate, for the report. */
  metric: number | null;
  /**
   * Samples whose top-1 class differs from the float model's, and how many were compared (null
   * when the output is not a score vector; absent in logs written before it was recorded).
   */
  disagree?: { samples: number; of: number } | null;
  ms: number;
  /** Set when applying or evaluating the plan failed (the trial counts as infinitely bad). */
  error?: string;
}

/** One row of the sensitivity table: one layer compressed alone to one rung. */
export interface SensitivityRow {
  layer: string;
  dimension: SpaceName;
  rung: QuantOption | number;
  value: number | null;
  /** Constraint value minus the float model's: positive is worse. */
  cost: number;
  sqnrDb: number | null;
  /** Size saved against the float model, in the size measure's bytes. */
  saved: number;
  trial: number;
  /** Set when this layer cannot take this rung (the search then never gives it that rung). */
  error?: string;
}

export type StopReason = 'done' | 'max-trials' | 'time-budget';

export interface TuneResult {
  model: string;
  constraint: { name: string; limit: number; bound: 'max' | 'min'; unit: string };
  sizeMeasure: SizeMeasure;
  layers: string[];
  dimensions: Dimension[];
  sensitivity: SensitivityRow[];
  trials: TrialRecord[];
  /** The chosen trial (on all the data), or null with --sensitivity-only. */
  best: TrialRecord | null;
  bestAssignment: Assignment | null;
  /** Whether `best` meets the constraint on all the data. */
  met: boolean;
  /** Uniform plans (every layer on one quantize option), measured on all the data. */
  uniform: { option: QuantOption; trial: TrialRecord }[];
  /** Non-dominated trials of the size measure against the constraint value (scope of the search), by size. */
  front: TrialRecord[];
  planned: number;
  stopped: StopReason;
  /** Trials read back from the log (resume) rather than run. */
  reused: number;
  elapsedMs: number;
}
