/** `mc tune`: accuracy-aware search over per-layer compression plans (docs/tune.md). */
export type {
  Assignment, CalibrationChoice, Dimension, LatencyObjectiveReport, ObjectiveName, QuantOption, Scope, SensitivityRow, SizeMeasure, SpaceName, StopReason, Strategy,
  TrialRecord, TuneOptions, TuneResult,
} from './types';
export { tune, type TuneHooks, type TuneRun } from './tune';
export { writeBest, type WriteBestOptions, type WrittenBest } from './output';
export { noiseOf, tuneReport, sizeOf, type TuneReport, type PlanRow } from './report';
export { renderMarkdownReport } from './render-markdown';
export { renderHtmlReport } from './render-html';
export { readTrials, TrialLog } from './log';
export { dominates, paretoFront } from './pareto';
export { constraintOf, CONSTRAINT_KEYS } from './constraint';
export { checkSpace, dimensionsOf, planFor, recipeDocOf } from './space';
export { tuneLatency, type LatencyTuneOptions, type LatencyTuneRun, type LatencyReportData } from './tune-latency';
export { netadapt, type NetAdaptOptions, type NetAdaptResult, type NetAdaptIteration, type EndToEnd } from './netadapt';
export { LatencyMeter, measureTable, type LatencyEntry, type LatencySettings, type LatencyTable } from './latency-table';
