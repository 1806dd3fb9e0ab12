/**
 * `mc apply mc.yaml [model]`: runs a recipe (docs/recipes.md) on a model and
 * writes the result; with the recipe's `eval:`, evaluates it against the input
 * and gates on the budgets, as `mc quantize --eval-data` does.
 */
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import type { EvalReport } from '../../eval';
import { defaultOutputPath } from '../../pipeline/output';
import { applyPlanToFile, readRecipe, type ApplyFileResult, type Plan, type QatTraining } from '../../plan';
import { runRewriteWithGate } from '../eval-gate';
import { optionalString } from '../flags';
import { formatBytes } from '../format';
import { renderTable } from '../table';

export interface ApplyCliOptions {
  recipe: string;
  plan: Plan;
  input: string;
  output: string;
  force: boolean;
  json: boolean;
}

export interface ApplyCliResult extends ApplyFileResult {
  eval?: EvalReport;
}

export const applyCommand = defineCommand<ApplyCliOptions>({
  name: 'apply',
  configure: (cmd) => cmd
    .description('run a recipe (mc.yaml: prune and quantize steps per layer, docs/recipes.md) on a model')
    .argument('<recipe>', 'the recipe (.yaml or .json)')
    .argument('[model]', "input model (default: the recipe's model:)")
    .option('-o, --output <path>', 'output (default: model.mc.onnx, or folder m-mc/)')
    .option('--force', 'allow the output to replace the input')
    .option('--json', 'print the report as JSON on stdout'),
  parse: ([recipe, model], flags) => parseApplyFlags(recipe, model, flags),
  run: (o, ctx) => runRewriteWithGate(
    ctx, { title: `applying ${o.recipe} to ${o.input}`, input: o.input, json: o.json, gate: o.plan.eval },
    (progress): Promise<ApplyCliResult> => applyPlanToFile({ input: o.input, output: o.output, plan: o.plan, force: o.force, progress }),
    (r) => renderHuman(r, ctx),
  ),
});

/** Reads and checks the recipe (every recipe error is found here, before the model is read). */
export function parseApplyFlags(recipe: string, model: string | undefined, flags: Readonly<Record<string, unknown>>): ApplyCliOptions {
  const plan = readRecipe(recipe);
  const input = model ?? plan.model;
  if (input === undefined) throw new UsageError(`${recipe}: no model: give it on the command line (mc apply ${recipe} model.onnx) or as model: in the recipe`);
  const output = optionalString(flags.output) ?? defaultOutputPath(input, 'mc');
  return { recipe, plan, input, output, force: flags.force === true, json: flags.json === true };
}

/** A quantize step's finetune: (quantization-aware training), as a finetune step's line says it. */
function qatLine(step: string, q: QatTraining, bold: (s: string) => string): string {
  const t = q.training;
  const last = t.epochs[t.epochs.length - 1];
  return `${bold(step)} quantization-aware training: ${q.samples} sample(s), ${t.steps} step(s) at ${t.lr.toExponential(2)} on ${q.engine}, last epoch's loss ${last ? last.loss.toFixed(4) : '-'}; ${t.maskedZeros} pruned zero(s) kept\n`;
}

function renderHuman(r: ApplyCliResult, ctx: CliContext): string {
  const c = ctx.chalk;
  let s = renderTable(
    [{ header: 'weight' }, { header: 'step' }, { header: 'form' }],
    r.forms.map((f) => [f.name, f.steps || '-', f.form]),
    { styleHeader: (h) => c.bold(h) },
  );
  for (const res of r.results) {
    if (res.kind === 'prune') {
      const rep = res.report;
      s += `${c.bold(`steps[${res.step}]`)} prune ${rep.criterion}, ${rep.pattern}: ${rep.layers.length} layer(s), ${(rep.globalSparsity * 100).toFixed(1)}% of their weights ${rep.pattern === 'channel' ? 'removed' : 'zero'}\n`;
    } else if (res.kind === 'finetune') {
      const t = res.training;
      const last = t.epochs[t.epochs.length - 1];
      s += `${c.bold(`steps[${res.step}]`)} finetune: ${res.samples} sample(s), ${t.steps} step(s) at ${t.lr.toExponential(2)} on ${res.engine}, last epoch's loss ${last ? last.loss.toFixed(4) : '-'}`;
      s += res.report ? `; gradual pruning to ${(res.report.globalSparsity * 100).toFixed(1)}% of ${res.report.layers.length} layer(s)\n` : `; ${t.maskedZeros} pruned zero(s) kept\n`;
    } else if (res.kind === 'quantize') {
      const rep = res.report;
      if (res.training) s += qatLine(res.steps.map((i) => `steps[${i}]`).join(' + '), res.training, c.bold);
      s += `${c.bold(res.steps.map((i) => `steps[${i}]`).join(' + '))} quantize: ${rep.tensors.length} tensor(s), ${formatBytes(rep.weightBytesBefore)} → ${formatBytes(rep.weightBytesAfter)}`;
      s += rep.skipped.length ? `; ${rep.skipped.length} left in float\n` : '\n';
      if (res.outputCheck && res.outputCheck.unchecked === undefined) {
        const rows = res.outputCheck.after.map((o) => `${o.name} ${o.sqnrDb === null ? 'exact' : `${o.sqnrDb.toFixed(1)} dB`}`).join(', ');
        s += `${c.bold('outputs')} in ${res.outputCheck.runtime} on ${res.outputCheck.inputs.description}: ${rows}; ${res.outputCheck.backedOff.length} weight(s) backed off\n`;
      }
      for (const w of rep.warnings) s += `${c.yellow('warning')} ${w}\n`;
    } else {
      const rep = res.report;
      if (res.training) s += qatLine(`steps[${res.step}]`, res.training, c.bold);
      s += `${c.bold(`steps[${res.step}]`)} static int8 (${rep.calibration.method}, ${rep.calibration.samples} samples): ${rep.quantizedNodes.length} node(s) int8, ${rep.skipped.length} left in float\n`;
      for (const w of rep.warnings) s += `${c.yellow('warning')} ${w}\n`;
    }
  }
  const { before, after } = r.size;
  s += `${c.bold('model')} ${formatBytes(before.bytes)} → ${formatBytes(after.bytes)}`;
  if (before.gzipBytes !== undefined && after.gzipBytes !== undefined) s += `; gzip ${formatBytes(before.gzipBytes)} → ${formatBytes(after.gzipBytes)}`;
  s += '\n';
  s += `${c.bold('recipe')} sha256 ${r.recipe.sha256} (recorded in the output's metadata as mc.recipe)\n`;
  for (const n of r.notes) s += `${c.yellow('note')} ${n}\n`;
  s += `${c.green('wrote')} ${r.output}${r.verified ? ' (opened in onnxruntime)' : ''}\n`;
  return s;
}
