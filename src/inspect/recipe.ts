/**
 * The recipe a model was made with, as mc records it (src/plan/apply.ts):
 * ONNX metadata_props `mc.recipe` (canonical JSON) and `mc.recipe.sha256`,
 * tfjs userDefinedMetadata with the same keys (the recipe as an object).
 */
import { createHash } from 'crypto';
import type { Model } from '../ir';
import type { RecordedRecipe } from './report';

export function recordedRecipe(model: Model): RecordedRecipe | null {
  let json: string | undefined;
  let sha: string | undefined;
  if (model.format === 'onnx') {
    json = model.metadataProps.find((m) => m.key === 'mc.recipe')?.value;
    sha = model.metadataProps.find((m) => m.key === 'mc.recipe.sha256')?.value;
  } else {
    const r = model.userMetadata?.['mc.recipe'];
    json = r === undefined ? undefined : JSON.stringify(r);
    const s = model.userMetadata?.['mc.recipe.sha256'];
    sha = typeof s === 'string' ? s : undefined;
  }
  if (json === undefined) return null;
  let recipe: unknown;
  try {
    recipe = JSON.parse(json);
  } catch {
    return { sha256: sha ?? null, matches: false, steps: ['(mc.recipe is not JSON)'], recipe: null };
  }
  // The hash is over the canonical JSON: ONNX keeps that exact text; tfjs keeps the object, whose
  // keys were sorted when it was written and keep their order through JSON, so it re-serializes the same.
  const matches = createHash('sha256').update(json).digest('hex') === sha;
  return { sha256: sha ?? null, matches, steps: stepsOf(recipe), recipe };
}

/** One line per step: 'quantize bits 4 block 32 on conv2.weight', 'prune 50% unstructured'. */
function stepsOf(recipe: unknown): string[] {
  const steps = (recipe as { steps?: unknown[] } | null)?.steps;
  if (!Array.isArray(steps)) return [];
  return steps.map((raw) => {
    const s = raw as Record<string, Record<string, unknown> | string[] | undefined>;
    const on = Array.isArray(s.layers) ? ` on ${s.layers.join(', ')}` : '';
    const off = Array.isArray(s.exclude) ? ` except ${s.exclude.join(', ')}` : '';
    const p = s.prune as Record<string, unknown> | undefined;
    if (p) return `prune ${Math.round(Number(p.sparsity) * 1000) / 10}% ${String(p.pattern)} by ${String(p.criterion)}${on}${off}`;
    const f = s.finetune as Record<string, unknown> | undefined;
    if (f) return `finetune on ${training(f)}${f['prune-to'] !== undefined ? `, gradual pruning to ${Math.round(Number(f['prune-to']) * 1000) / 10}%` : ''}`;
    const q = (s.quantize ?? {}) as Record<string, unknown>;
    // a quantize step's finetune: is quantization-aware training for its forms
    const qat = q.finetune ? ` with QAT (on ${training(q.finetune as Record<string, unknown>)})` : '';
    if (q.calib !== undefined && q.bits === undefined) return `quantize static int8 (${String(q['calib-method'])} on ${String(q.calib)})${qat}${on}${off}`;
    const g = q.granularity === 'block' ? `block ${String(q['block-size'])}` : String(q.granularity);
    return `quantize int${String(q.bits)} ${g}${q.mode === 'dynamic' ? ' dynamic' : ''}${qat}${on}${off}`;
  });
}

/** 'train-x.npy, 1 epoch(s), lr 0.001': a finetune step's or a QAT map's training, in brief. */
function training(f: Record<string, unknown>): string {
  return `${String(f.data)}, ${String(f.epochs)} epoch(s), lr ${String(f.lr)}`;
}
