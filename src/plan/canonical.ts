/**
 * The canonical recipe: the plan as recipe keys with every default filled,
 * object keys sorted, without the model or output paths (data paths stay,
 * relative to the recipe's folder; not the calibration cache file). Its JSON and sha256 go into the output's
 * metadata (`mc.recipe`, `mc.recipe.sha256`), so two artifacts made by the
 * same recipe carry the same hash whatever file or flags it came from.
 */
import { createHash } from 'crypto';
import { stringify } from 'yaml';
import { BUDGET_SPECS } from '../eval/budgets';
import { VERSION } from '../version';
import { keysOfStep, pathIn, type Keys } from './keys';
import type { Plan } from './types';

/** The recipe document of `plan` (keys in writing order; `model` only when `withModel`). */
export function recipeDocument(plan: Plan, o: { base?: string; withModel?: boolean } = {}): Keys {
  const base = o.base ?? plan.baseDir;
  const doc: Keys = {};
  if (o.withModel && plan.model !== undefined) doc.model = pathIn(base, plan.model);
  doc.steps = plan.steps.map((s) => keysOfStep(s, base));
  if (plan.eval) {
    const e: Keys = { data: pathIn(base, plan.eval.data) };
    if (plan.eval.labels !== undefined) e.labels = pathIn(base, plan.eval.labels);
    const budgets: Keys = {};
    for (const spec of BUDGET_SPECS) if (plan.eval.budgets[spec.key] !== undefined) budgets[spec.flag] = plan.eval.budgets[spec.key];
    e.budgets = budgets;
    doc.eval = e;
  }
  return doc;
}

export interface CanonicalRecipe {
  json: string;
  sha256: string;
}

export function canonicalRecipe(plan: Plan): CanonicalRecipe {
  const doc = recipeDocument(plan);
  // Where calibration statistics are cached changes how fast a run is, not the model it makes.
  for (const step of doc.steps as Keys[]) delete (step.quantize as Keys | undefined)?.['calib-cache'];
  const json = JSON.stringify(sorted(doc));
  return { json, sha256: createHash('sha256').update(json).digest('hex') };
}

/** The plan as a YAML recipe file, with a comment header saying what wrote it; paths relative to `base`. */
export function recipeYaml(plan: Plan, base: string, writtenBy: string): string {
  const header = [
    `# mc recipe (docs/recipes.md), written by mc ${VERSION}: ${writtenBy}`,
    '# every setting is spelled out, defaults included, so a later mc with other defaults makes the same model;',
    '# apply it with: mc apply <this file> [model] [-o output]',
  ].join('\n');
  return `${header}\n${stringify(recipeDocument(plan, { base, withModel: true }), { lineWidth: 0 })}`;
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v !== null && typeof v === 'object') {
    const out: Keys = {};
    for (const k of Object.keys(v).sort()) out[k] = sorted((v as Keys)[k]);
    return out;
  }
  return v;
}
