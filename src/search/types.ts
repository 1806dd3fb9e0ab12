/**
 * `mc tune` as data: the options the CLI parses flags into, the trials the
 * search runs (one JSON line each in the trial log), and the result the CLI
 * renders. The search itself (sensitivity, greedy + reclaim, evolve) only
 * ever sees assignments (one rung per layer and dimension) and trial records.
 */
import type { Budgets, MetricName } from '../eval/types';
import type { CalibrationMethod } from '../passes/quantize/calibration-methods';

/** `mc tune --finetune-*`: what each pruned trial trains on (not the eval data), and how long. */
export interface TrialFinetune {
  data: string;
  labels?: string;
  /** The first `samples` training inputs (all when absent). */
  samples?: number;
  epochs?: number;
  lr?: number;
}

/**
 * A calibration method as --space static searches it: a method name, or the percentile method
 * with its percentage (`percentile@99.99`; plain `percentile` keeps mc's default, 99.999).
 */
export type CalibrationChoice = CalibrationMethod | `percentile@${number}`;

/** The recipe keys of a choice: calib-method, and percentile when it names one. */
export function calibrationKeys(c: CalibrationChoice): { 'calib-method': CalibrationMethod; percentile?: number } {
  const m = /^percentile@(.+)$/.exec(c);
  return m ? { 'calib-method': 'percentile', percentile: Number(m[1]) } : { 'calib-method': c as CalibrationMethod };
}

/**
 * The dimensions a layer can be compressed along. `static`: static int8 of the layer's node
 * (QDQ on its activations and weight, with --calib), or float; it does not combine with
 * `quantize` (a recipe's static step reads float weights).
 */
export type SpaceName = 'quantize' | 'prune' | 'channels' | 'static';

/**
 * What a weight can become along the quantize dimension: int4 with a block size (`int4-b128`;
 * plain `int4` is block 32, mc quantize's default), int4 by GPTQ (block 32, needs calibration
 * data), int8 (per channel), or float (left alone).
 */
export type QuantOption = 'int4' | `int4-b${number}` | 'int4-gptq' | 'int8' | 'float';

export type Strategy = 'greedy' | 'evolve';

/** What to minimise among plans that meet the constraint. */
export type SizeMeasure = 'weights' | 'file' | 'gzip';

/**
 * `--objective`: what the search minimises among plans that meet the constraint. Latency is the
 * latency table's estimate of a plan against the float model (onnxruntime here, 1 thread;
 * latency-table.ts); `size,latency` keeps the Pareto front of both (objective.ts).
 */
export type ObjectiveName = 'size' | 'latency';

/** The latency objective's settings (`--objective latency` or `size,latency` outside NetAdapt). */
export interface LatencyObjectiveOptions {
  runs: number;
  repeats: number;
  batchSize: number;
  /** A JSON file of table entries, read when it matches this model, CPU and settings, written after measuring. */
  table?: string;
}

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
  /** Calibration inputs for int4-gptq (the layers' Hessians) and --space static; not the eval data. */
  calib?: string;
  /**
   * Data the search never sees: the answer alone is measured on it after the search, and the
   * report says whether the constraint still holds there (selection among many plans on the same
   * samples favours lucky ones).
   */
  holdout?: { data: string; labels?: string };
  /** --space static: the calibration methods tried (each on the all-static plan, on all the data); the best is searched. */
  calibMethods?: CalibrationChoice[];
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
  /** What to minimise (default ['size']); with 'latency', `latencyObjective` sets how it is measured. */
  objective?: ObjectiveName[];
  latencyObjective?: LatencyObjectiveOptions;
}

/**
 * The rungs of one dimension, most aggressive first: quantize [int4, int8, float],
 * prune [0.75, 0.5, 0.25, 0]. The last rung is the safest; float and 0 (dense) leave the weight as it is.
 */
export interface Dimension {
  name: SpaceName;
  rungs: readonly (QuantOption | number)[];
  /** Quantize: the calibration inputs GPTQ reads (an absolute path), when a rung is int4-gptq. Static: the calibration inputs. */
  calib?: string;
  /** Static: the calibration method every static layer's activations use (chosen before the search: tune.ts). */
  calibMethod?: CalibrationChoice;
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
  /**
   * With a latency objective: the plan's latency against the float model as the latency table
   * estimates it (1 + the sum of its layers' entries − 1), set by the search from this run's table;
   * with --space static, as timed end to end for this trial (kept from the log on --resume).
   */
  latency?: number;
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

export interface LatencyObjectiveReport {
  settings: { runs: number; repeats: number; batchSize: number; threads: 1; runtime: 'onnxruntime' };
  /** 'table': a plan's latency is the per-layer table's sum; 'end-to-end': every plan was timed whole (static int8). */
  mode: 'table' | 'end-to-end';
  /** Per layer (name[weight shape]), dimension and rung: the median ratio to float, the repeats' spread, the ratio all repeats but one stay under, and the largest. */
  table: { layer: string; dimension: SpaceName; rung: QuantOption | number; ratio: number | null; spread: number; high: number; max: number; error?: string }[];
  /** Whether the table was read from --latency-table rather than measured. */
  cached: boolean;
  /** The answer: its trial's latency (the table's estimate, or its timing in the search) and a new end-to-end measurement (ratio to float). */
  best: { estimate: number; ratio: number | null; high: number; spread: number; ms: number; floatMs: number; error?: string } | null;
}

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
  /**
   * --space static: every layer static int8 with each calibration method tried (all the data), and
   * the method the search then used (the largest slack; ties: the higher SQNR, then the order given).
   */
  calibration?: { tried: { method: CalibrationChoice; value: number | null; slack: number; passed: boolean; sqnrDb: number | null; error?: string }[]; chosen: CalibrationChoice };
  /** Non-dominated trials of the size measure against the constraint value (scope of the search), by size. */
  front: TrialRecord[];
  /**
   * With --objective size,latency: the trials that meet the constraint (on the search's data) that
   * no other such trial beats on both size and estimated latency, by size (the choice a user makes).
   */
  tradeoff?: TrialRecord[];
  /** What the search minimised (size alone unless --objective said otherwise). */
  objective: ObjectiveName[];
  /** --holdout-data: the answer measured on data the search never saw. */
  holdout?: { value: number | null; slack: number; passed: boolean; sqnrDb: number | null; disagree: { samples: number; of: number } | null; error?: string };
  /** With a latency objective: the table, and the answer measured end to end. */
  latencyObjective?: LatencyObjectiveReport;
  planned: number;
  stopped: StopReason;
  /** Trials read back from the log (resume) rather than run. */
  reused: number;
  elapsedMs: number;
}
