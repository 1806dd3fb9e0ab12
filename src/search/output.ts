/**
 * The answer of a search on disk: the best (or closest) plan applied to the
 * input model by applyPlanToFile, the code `mc apply` runs, and that plan as
 * a recipe (the plan as carried out, with the model's path), so
 * `mc apply best.yaml model.onnx` writes the same bytes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeOutput } from '../pipeline/output';
import { applyPlanToFile, recipeYaml, type Plan } from '../plan';
import { writeFileAtomic } from '../util/atomic';
import { planFor } from './space';
import type { TuneRun } from './tune';

export interface WriteBestOptions {
  output: string;
  recipeOut?: string;
  force: boolean;
  /** The command line, for the recipe's header. */
  command: string;
}

export interface WrittenBest {
  output: string;
  recipe: string | null;
  /** The recipe's sha256 (also in the output's metadata), or null for a plan that changes nothing. */
  sha256: string | null;
  notes: string[];
}

export async function writeBest(run: TuneRun, o: WriteBestOptions): Promise<WrittenBest> {
  if (!run.bestAssignment) throw new Error('internal: writeBest without a best plan');
  const plan = planFor(run.bestAssignment, run.layers, run.dimensions);
  if (!plan) {
    // Every layer on float (and dense): the input model is the answer; a recipe needs at least one step.
    const w = await writeOutput(run.float.clone(), { input: run.model, output: o.output, force: o.force, verify: true, gzip: false });
    return { output: o.output, recipe: null, sha256: null, notes: [...w.notes, 'the best plan leaves every layer as it is: the output is the input model, and no recipe is written'] };
  }
  // Paths in the recorded recipe are relative to the recipe's folder, as mc apply of that file records them.
  const withModel: Plan = { ...plan, model: path.resolve(run.model), baseDir: o.recipeOut ? path.dirname(o.recipeOut) : plan.baseDir };
  const r = await applyPlanToFile({ input: run.model, output: o.output, plan: withModel, force: o.force });
  let recipe: string | null = null;
  if (o.recipeOut) {
    fs.mkdirSync(path.dirname(path.resolve(o.recipeOut)), { recursive: true });
    writeFileAtomic(o.recipeOut, recipeYaml({ ...r.plan, model: path.resolve(run.model) }, path.dirname(o.recipeOut), o.command));
    recipe = o.recipeOut;
  }
  return { output: o.output, recipe, sha256: r.recipe.sha256, notes: r.notes };
}
