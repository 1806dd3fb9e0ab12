/** Recipes: what to do to which weights, as data (docs/recipes.md). */
export type { FinetuneStep, Plan, PlanEval, PlanStep, PruneStep, QuantizeStep, Selection, StaticStep, StepSource, StepTraining } from './types';
export { parseRecipe, readRecipe, RecipeError, SCHEMA_PATH } from './read';
export { GRADUAL_KEYS, gradualSettings, keysOfStep, stepFromKeys } from './keys';
export { canonicalRecipe, recipeDocument, recipeYaml, type CanonicalRecipe } from './canonical';
export { applyPlan, type ApplyContext, type PlanReport, type QatTraining, type StepResult, type WeightForm } from './apply';
export { applyPlanToFile, type ApplyFileOptions, type ApplyFileResult } from './run';
export { commandLinePlan } from './command-line';
