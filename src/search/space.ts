/**
 * The search space: the layers (weights the quantize pass takes), the
 * dimensions each can move along (quantize: int4 → int8 → float; prune and
 * channels: 75% → 50% → 25% → dense), and the one translation from an assignment
 * (a rung per layer and dimension) to a Plan, the same object a recipe file
 * makes, so every trial is something `mc apply` can reproduce.
 */
import type { Model } from '../ir';
import { applyPlan, parseRecipe, type Plan } from '../plan';
import * as path from 'path';
import { UsageError } from '../errors';
import { calibrationKeys, type Assignment, type CalibrationChoice, type Dimension, type QuantOption, type SpaceName, type TrialFinetune } from './types';

/** int4 block size of an option (plain int4: 32, mc quantize's default), or null for int8/float. */
export function int4Block(o: QuantOption): number | null {
  if (o === 'int4' || o === 'int4-gptq') return 32;
  const m = /^int4-b(\d+)$/.exec(o);
  return m ? Number(m[1]) : null;
}

/**
 * Most aggressive first: int4 by block size, largest first (fewer scales: smaller, coarser),
 * then int4 by GPTQ, int8, float. `int4` and `int4-b32` are one option.
 */
export function quantOrder(options: readonly QuantOption[]): QuantOption[] {
  // GPTQ has round to nearest's bytes and (usually) less error: one rung safer than int4.
  const rank = (o: QuantOption): number => (o === 'float' ? 2e9 : o === 'int8' ? 1e9 : o === 'int4-gptq' ? -31.5 : -int4Block(o)!);
  const byBlock = new Map<string, QuantOption>();
  for (const o of options) {
    const k = int4Block(o) === null || o === 'int4-gptq' ? o : `int4/${int4Block(o)}`;
    if (!byBlock.has(k)) byBlock.set(k, o);
  }
  return [...byBlock.values()].sort((a, b) => rank(a) - rank(b));
}

/** The combinations of dimensions a plan cannot carry out, and static's calibration data: one UsageError. */
export function checkSpace(space: readonly SpaceName[], calib: string | undefined): void {
  if (space.includes('static') && space.includes('quantize')) throw new UsageError('--space: static and quantize both quantize a layer (a static step reads float weights); choose one');
  if (space.includes('static') && calib === undefined) throw new UsageError('--space static needs --calib (calibration inputs for the activation ranges; not the eval data)');
  if (space.includes('channels') && space.includes('prune')) throw new UsageError('--space: channels and prune both prune a layer (one prune step per weight); choose one');
}

/**
 * The dimensions of `space`, each with its rungs most aggressive first. Quantize has only the
 * options asked for (`--options int4` means no weight may stay float); prune always ends dense.
 */
export function dimensionsOf(space: readonly SpaceName[], options: readonly QuantOption[], sparsities: readonly number[], calib?: string, calibMethod?: CalibrationChoice): Dimension[] {
  checkSpace(space, calib);
  const dims: Dimension[] = [];
  // Prune runs before quantize in a plan; the dimensions keep that order too.
  const pruneRungs = [...[...new Set(sparsities.filter((s) => s > 0))].sort((a, b) => b - a), 0];
  if (space.includes('channels')) dims.push({ name: 'channels', rungs: pruneRungs });
  if (space.includes('prune')) dims.push({ name: 'prune', rungs: pruneRungs });
  if (space.includes('quantize')) {
    const rungs = quantOrder(options);
    dims.push(rungs.includes('int4-gptq') && calib !== undefined ? { name: 'quantize', rungs, calib } : { name: 'quantize', rungs });
  }
  if (space.includes('static')) dims.push({ name: 'static', rungs: ['int8', 'float'], calib, calibMethod: calibMethod ?? 'minmax' });
  return dims;
}

/** The weights the search moves: those a plain weight-only quantize step takes, in model order. */
export async function discoverLayers(model: Model, label: string): Promise<string[]> {
  const probe = model.clone();
  const report = await applyPlan(probe, planOf({ steps: [{ quantize: { bits: 8, 'output-check': false } }] }), { label });
  return report.forms.filter((f) => f.steps !== '').map((f) => f.name);
}

export function safest(layers: readonly string[], dims: readonly Dimension[]): Assignment {
  return layers.map(() => dims.map((d) => d.rungs.length - 1));
}

export function mostAggressive(layers: readonly string[], dims: readonly Dimension[]): Assignment {
  return layers.map(() => dims.map(() => 0));
}

/** Every layer on `option` along quantize (or static), dense along prune (null when the space has no such rung). */
export function uniform(layers: readonly string[], dims: readonly Dimension[], option: QuantOption): Assignment | null {
  const q = dims.findIndex((d) => d.name === 'quantize' || d.name === 'static');
  if (q < 0) return null;
  const r = dims[q].rungs.indexOf(option);
  if (r < 0) return null;
  return layers.map(() => dims.map((d, i) => (i === q ? r : d.rungs.length - 1)));
}

export function copyAssignment(a: Assignment): Assignment {
  return a.map((row) => [...row]);
}

/** A stable string for an assignment (the trial log's key, with the scope). */
export function assignmentKey(a: Assignment): string {
  return a.map((row) => row.join('.')).join(',');
}

/** Whether a rung leaves the weight as it is (float, dense). */
export function isIdentity(rung: QuantOption | number): boolean {
  return rung === 'float' || rung === 0;
}

/** layer → the rungs' values, for layers the plan changes (what the log and report show). */
export function describe(a: Assignment, layers: readonly string[], dims: readonly Dimension[]): Record<string, (QuantOption | number)[]> {
  const out: Record<string, (QuantOption | number)[]> = {};
  a.forEach((row, l) => {
    if (row.some((r, d) => !isIdentity(dims[d].rungs[r]))) out[layers[l]] = row.map((r, d) => dims[d].rungs[r]);
  });
  return out;
}

/**
 * The pruning dimensions of `dims` given a fine-tune after them (recipe finetune keys, paths made
 * absolute so a trial worker and the written recipe read the same files); `dims` when `ft` is absent.
 */
export function withFinetune(dims: Dimension[], ft: TrialFinetune | undefined): Dimension[] {
  if (!ft) return dims;
  if (!dims.some((d) => d.name === 'prune' || d.name === 'channels')) throw new UsageError('--finetune-data fine-tunes pruned plans: give --space prune or channels');
  const keys: Record<string, string | number> = { data: path.resolve(ft.data) };
  if (ft.labels !== undefined) keys.labels = path.resolve(ft.labels);
  if (ft.samples !== undefined) keys.samples = ft.samples;
  if (ft.epochs !== undefined) keys.epochs = ft.epochs;
  if (ft.lr !== undefined) keys.lr = ft.lr;
  return dims.map((d) => (d.name === 'prune' || d.name === 'channels' ? { ...d, finetune: keys } : d));
}

/**
 * The recipe document of an assignment (recipe keys, docs/recipes.md): prune steps by sparsity,
 * a finetune step when the plan prunes and a pruning dimension has one, then quantize steps by option.
 */
export function recipeDocOf(a: Assignment, layers: readonly string[], dims: readonly Dimension[]): { steps: Record<string, unknown>[] } {
  const steps: Record<string, unknown>[] = [];
  let finetune: Record<string, string | number> | undefined;
  dims.forEach((dim, d) => {
    // Dimensions run prune-like first (dimensionsOf's order), so the finetune step goes in before the first quantize step.
    if ((dim.name === 'quantize' || dim.name === 'static') && finetune) {
      steps.push({ finetune });
      finetune = undefined;
    }
    for (const rung of dim.rungs.filter((r) => !isIdentity(r))) {
      const taken = layers.filter((_, l) => dim.rungs[a[l][d]] === rung);
      if (!taken.length) continue;
      if ((dim.name === 'prune' || dim.name === 'channels') && dim.finetune) finetune = dim.finetune;
      if (dim.name === 'prune') steps.push({ prune: { sparsity: rung }, layers: taken });
      // Whole filters out (the layer's output channels and what reads them): the model shrinks.
      else if (dim.name === 'channels') steps.push({ prune: { sparsity: rung, pattern: 'channel' }, layers: taken });
      // One static step: the chosen layers' nodes (by the weight they read), every other node float. Nothing
      // is decided by timing inside a trial (a search's choices are its own): small layers are quantized
      // when chosen, and no space-to-depth rewrite.
      else if (dim.name === 'static') {
        steps.push({ quantize: { calib: dim.calib, ...calibrationKeys(dim.calibMethod ?? 'minmax'), 'small-layers': 'int8', 'space-to-depth': 'off' }, layers: taken });
      }
      // The output check would back weights off on its own; in a search every weight's form is the search's choice.
      else {
        const block = int4Block(rung as QuantOption);
        const q = block === null ? { bits: 8 }
          : rung === 'int4-gptq' ? { bits: 4, 'block-size': block, method: 'gptq', calib: dim.calib }
            : { bits: 4, 'block-size': block };
        steps.push({ quantize: { ...q, 'output-check': false }, layers: taken });
      }
    }
  });
  if (finetune) steps.push({ finetune });
  return { steps };
}

/**
 * The Plan of an assignment, through the recipe reader (so it is exactly what the written recipe
 * reads back as); null when it changes nothing (every layer float and dense: the input model).
 */
export function planFor(a: Assignment, layers: readonly string[], dims: readonly Dimension[]): Plan | null {
  const doc = recipeDocOf(a, layers, dims);
  return doc.steps.length ? planOf(doc) : null;
}

function planOf(doc: { steps: unknown[] }): Plan {
  // JSON is YAML: the recipe reader checks the keys as it would a file's.
  return parseRecipe(JSON.stringify(doc), 'tune plan', '.');
}
