/**
 * The plan a command line makes: `mc quantize` and `mc prune` parse their flags
 * into the passes' typed options as before, and this wraps them as a one-step
 * plan, so the flags run through applyPlan like any recipe and `--recipe-out`
 * can write them down.
 */
import * as path from 'path';
import type { Plan, PlanEval, PlanStep } from './types';

/**
 * A one-step plan from a command's parsed options. `exclude` patterns come from --exclude;
 * `recipeOut` (the file --recipe-out writes) sets the folder its paths are relative to.
 */
export function commandLinePlan(step: PlanStep, o: { model: string; eval?: PlanEval; recipeOut?: string }): Plan {
  return {
    model: o.model,
    steps: [step],
    eval: o.eval,
    baseDir: o.recipeOut === undefined ? '.' : path.dirname(o.recipeOut),
    sources: [{ where: 'command line', key: '--exclude', excludeAt: step.select.exclude.map(() => 'command line') }],
  };
}
