/**
 * mc as a library. The CLI is a thin layer over these functions: typed
 * options in, typed results (plain data) out, typed errors (src/errors.ts) thrown.
 *
 *   import { loadModel, inspectModel, modelFiles } from 'mc';
 *   const report = inspectModel(loadModel('model.onnx'), modelFiles('model.onnx'));
 */
export * from './ir';
export * from './errors';
export { VERSION } from './version';
export type { ConvertOptions, ConvertResult, FormatName, SaveOptions } from './formats';
export {
  convertModel, detectFormat, formatOf, loadModel, modelFiles, modelRoot, outputFormatOf, saveModel,
} from './formats';
export * from './inspect';


// Rewriting passes and the file-level jobs the CLI runs.
export * from './passes';
export { resolveStaticOptions, spaceToDepthPoolingPass, staticQdqPass } from './passes/quantize/static';
export type { StaticQdqInput, StaticQdqReport, StaticQuantizeOptions, StaticQuantizeResult, StaticTarget } from './passes/quantize/static';
export { quantizeFile, quantizeModel } from './pipeline/quantize';
export type { QuantizeFileOptions, QuantizeFileResult, QuantizeModelOptions } from './pipeline/quantize';
export { quantizeStaticFile, quantizeStaticModel, StatisticsMemory } from './pipeline/static';
export type { StaticCalibrationSource, StaticQuantizeFileOptions, StaticQuantizeFileResult, StaticStepContext } from './pipeline/static';
export { checkLoadsInOrt, defaultOutputPath, writeOutput, VERIFY_LIMIT_BYTES } from './pipeline/output';

// Data readers, calibration, evaluation and runtimes.
export * from './data';
export { calibrate, collectStatistics, rangesFrom } from './calibrate';
export type { ActivationSink, CalibrationOptions, CalibrationResult, CalibrationStatistics, StatisticKind, StatisticsOptions } from './calibrate';
export { evaluate, checkBudgets, Evaluator } from './eval';
export type { EvalOptions, EvalReport, Budgets, EvaluatorOptions, EvaluateCandidateOptions } from './eval';
export { detectCpu, openRunner, OrtRunner, TfjsRunner } from './runtime';
export type { CpuInfo, ModelSource } from './runtime';
export { initTfjs } from './runtime/tfjs-backend';
export { prunePass, pruneInRounds, validatePruneOptions } from './passes/prune';
export type { PruneOptions, PruneChanges } from './passes/prune';
export { convertFloat16, convertFloat16Pass, DEFAULT_BLOCKED_OPS } from './passes/float16';
export type { Float16Options, Float16Report } from './passes/float16';
export { convertFile, Q4F16_QUANTIZE } from './pipeline/convert';
export type { ConvertDType, ConvertFileOptions, ConvertFileResult } from './pipeline/convert';
export { pruneFile, pruneModel } from './pipeline/prune';
export type { PruneFileOptions, PruneFileResult, PruneModelOptions } from './pipeline/prune';

// Recipes (docs/recipes.md): a plan of prune/quantize steps per layer, read from YAML/JSON, applied in memory.
export { applyPlan, applyPlanToFile, canonicalRecipe, commandLinePlan, parseRecipe, readRecipe, recipeYaml, RecipeError } from './plan';
export type { ApplyContext, ApplyFileOptions, ApplyFileResult, CanonicalRecipe, Plan, PlanEval, PlanReport, PlanStep, PruneStep, QuantizeStep, Selection, StaticStep, StepResult, WeightForm } from './plan';

// Fine-tuning (docs/finetune.md): distillation with schedules, QAT and gradual pruning, in memory or file to file.
export { finetuneFile, finetuneModel, FINETUNE_DEFAULTS } from './pipeline/finetune';
export type { FinetuneSettings, FinetuneFileOptions, FinetuneFileResult, FinetuneModelOptions, FinetuneModelResult } from './pipeline/finetune';

// Search (docs/tune.md): per-layer plans against one constraint; returns data, writes nothing until writeBest.
export { tune, writeBest, tuneReport, renderHtmlReport, renderMarkdownReport, readTrials } from './search';
export type { TuneOptions, TuneResult, TuneRun, TuneHooks, TuneReport, TrialRecord, SensitivityRow, QuantOption, WriteBestOptions, WrittenBest } from './search';
