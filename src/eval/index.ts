export * from './types';
export { evaluate, EVAL_DEFAULTS } from './evaluate';
export { Evaluator, KEEP_BYTES, type EvaluatorOptions, type EvaluateCandidateOptions } from './evaluator';
export { BUDGET_SPECS, checkBudgets, checkBudgetRequirements, parseBudgetValue, type BudgetSpec } from './budgets';
export { measureSize, encodedFiles } from './size';
export { measureLatency } from './latency';
export { AccuracyAccumulator, pickMetric } from './accuracy';
export { ErrorAccumulator, FidelityAccumulator, sqnrDb } from './fidelity';
