/**
 * Options and results of `mc eval`, as plain data. The JSON report is exactly
 * EvalReport (see docs/eval-json-schema.md); bump SCHEMA_VERSION on any
 * change that is not a pure addition.
 */
import type { CpuInfo } from '../runtime/cpu';
import type { ModelSource } from '../runtime';

export const SCHEMA_VERSION = 1;

export type MetricName = 'top1' | 'top5' | 'perplexity' | 'mse';

export interface Budgets {
  /** Largest allowed accuracy drop, in percentage points of top-1 (top-5 with --metric top5); for perplexity/mse, percent worse. */
  maxAccuracyDrop?: number;
  /** Smallest allowed top-1 agreement with the baseline, 0..1. */
  minAgreement?: number;
  /** Smallest allowed output SQNR vs the baseline, dB (worst output). */
  minSqnr?: number;
  /** Largest allowed candidate/baseline bytes on disk. */
  maxSizeRatio?: number;
  /** Largest allowed candidate/baseline latency (median over adjacent block pairs of the block medians' ratio). */
  maxLatencyRatio?: number;
  /** Largest allowed candidate/baseline perplexity (language models; 1.02 = at most 2% worse). */
  maxPplRatio?: number;
}

export interface EvalOptions {
  /** A path, or a Model in memory (encoded and handed to the runtime without touching disk). */
  candidate: ModelSource;
  baseline?: ModelSource;
  /** What the report calls an in-memory candidate (its `path` field, and its file's name when it ends in .onnx); default 'in-memory <format> model'. */
  candidateName?: string;
  baselineName?: string;
  /** Input data for accuracy, fidelity and latency (.npy, .npz, ONNX test-data folder, images). */
  data?: string;
  labels?: string;
  /** Chosen from output and label shapes when absent. */
  metric?: MetricName;
  batchSize?: number;
  /** Use at most this many samples of --data. */
  samples?: number;
  /** Timed runs per model; 0 skips latency. */
  runs?: number;
  warmup?: number;
  threads?: number;
  perLayer?: boolean;
  budgets?: Budgets;
  /** Called after each evaluated batch (samples done, samples in all). */
  onProgress?: (done: number, total: number) => void;
}

export interface Settings {
  runs: number;
  warmup: number;
  threads: number;
  batchSize: number;
  /** Samples evaluated (null without --data). */
  samples: number | null;
  metric: MetricName | null;
  perLayer: boolean;
  data: string | null;
  labels: string | null;
}

export interface SizeFile {
  path: string;
  bytes: number;
  gzipBytes: number;
}

export interface SizeReport {
  /** Bytes on disk of every file the model needs. */
  bytes: number;
  /** Sum over those files of each file's gzip size (zlib, level 9). */
  gzipBytes: number;
  files: SizeFile[];
  /** Elements of every weight (constant) tensor. */
  parameters: number;
  /** Stored weight bytes, by dtype. */
  bytesByDtype: Record<string, number>;
}

export interface LatencyReport {
  medianMs: number;
  p90Ms: number;
  meanMs: number;
  minMs: number;
  runs: number;
  warmup: number;
  batchSize: number;
  /** Intra-op threads (null where the runtime does not take a thread count). */
  threads: number | null;
  runtime: string;
  backend: string;
  /** 'data' (first batch of --data) or 'synthetic' (from the model's input shapes). */
  input: 'data' | 'synthetic';
  /** The CPU the figures were measured on: int8 latency and accuracy depend on its ISA (src/runtime/cpu.ts). */
  cpu: CpuInfo;
}

export interface AccuracyReport {
  metric: MetricName;
  samples: number;
  /** Fraction 0..1 (classifiers). */
  top1: number | null;
  top5: number | null;
  /** exp(mean token NLL) (language models). */
  perplexity: number | null;
  /** Mean squared error over all elements (regression). */
  mse: number | null;
  /** Which output the metric reads. */
  output: string;
}

export interface OutputFidelity {
  name: string;
  /** 10·log10(Σref² / Σ(ref−cand)²); null when the outputs are identical (infinite). */
  sqnrDb: number | null;
  /** Σ ref·cand / (‖ref‖·‖cand‖) over all elements of all samples. */
  cosine: number;
  maxAbsError: number;
}

export interface LayerFidelity {
  name: string;
  sqnrDb: number | null;
}

export interface FidelityReport {
  samples: number;
  /** Fraction of samples whose argmax over the first output's last axis agrees; null when that output is not a score vector. */
  top1Agreement: number | null;
  /** Worst output SQNR (null: every output identical). */
  sqnrDb: number | null;
  /** Worst output cosine similarity. */
  cosine: number;
  /** Largest error over all outputs. */
  maxAbsError: number;
  outputs: OutputFidelity[];
  /** With --per-layer: the 10 shared intermediate tensors of lowest SQNR, worst first. */
  worstLayers: LayerFidelity[] | null;
  /** With --per-layer: how many intermediate tensors both models share. */
  layersCompared: number | null;
}

export interface ModelReport {
  /** The model's path, or the name given to a model evaluated in memory. */
  path: string;
  format: string;
  size: SizeReport;
  latency: LatencyReport | null;
  accuracy: AccuracyReport | null;
  /** Candidate only: its outputs against the baseline's. Always null for the baseline (the reference). */
  fidelity: FidelityReport | null;
}

export interface Delta {
  /** candidate − baseline. */
  sizeBytes: number;
  sizeRatio: number;
  gzipBytes: number;
  gzipRatio: number;
  parameters: number;
  /** candidate − baseline median, ms. */
  latencyMedianMs: number | null;
  /** Median over adjacent block pairs (baseline and candidate alternating in blocks) of median candidate time / median baseline time. */
  latencyRatio: number | null;
  /** (baseline − candidate) × 100, percentage points; positive is worse. */
  accuracyTop1Points: number | null;
  accuracyTop5Points: number | null;
  /** Relative change (candidate − baseline)/baseline × 100; positive is worse. */
  perplexityPercent: number | null;
  /** candidate / baseline perplexity; above 1 is worse. */
  perplexityRatio: number | null;
  msePercent: number | null;
}

export interface BudgetResult {
  /** The flag name without dashes, e.g. 'max-size-ratio'. */
  name: string;
  limit: number;
  /** null when the measured value is infinite (identical outputs for min-sqnr). */
  value: number | null;
  passed: boolean;
  /** Unit for display: 'points', 'ratio', 'dB', 'fraction', '%'. */
  unit: string;
}

export interface EvalReport {
  schemaVersion: number;
  mcVersion: string;
  settings: Settings;
  baseline: ModelReport | null;
  candidate: ModelReport;
  delta: Delta | null;
  budgets: BudgetResult[];
  passed: boolean;
}
