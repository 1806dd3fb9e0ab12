/**
 * `mc prune`: magnitude or Taylor-saliency pruning, unstructured, n:m or whole
 * output channels. Thin over the prune pass: load → (saliency: gradients on data)
 * → pass → ONNX load check in onnxruntime → atomic save → sizes → optional eval.
 */
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import type { EvalReport } from '../../eval';
import { BN_MODES, type FitResult } from '../../train';
import { defaultRounds, PRUNE_DEFAULTS, validatePruneOptions, type Criterion, type Pattern, type PruneOptions, type Scope } from '../../passes/prune';
import { pruneTag, type PruneFileOptions, type PruneFileResult } from '../../pipeline/prune';
import { defaultOutputPath } from '../../pipeline/output';
import { applyPlanToFile, commandLinePlan, GRADUAL_KEYS, gradualSettings, type Plan, type PruneStep } from '../../plan';
import { writeRecipe } from '../recipe-out';
import { recipeSummary, type RecipeSummary } from './quantize';
import { addEvalGateOptions, EvalGate, evalGateFromFlags, runRewriteWithGate } from '../eval-gate';
import { finiteNumber, oneOf, optionalString, stringList, wholeNumber } from '../flags';
import { formatBytes } from '../format';
import { renderTable } from '../table';

export interface PruneCliOptions extends Omit<PruneFileOptions, 'progress'> {
  /** With --eval-data: evaluate the output against the input and gate on the budget flags. */
  gate?: EvalGate;
  json: boolean;
  /** The flags as a plan (src/plan): what runs, and what --recipe-out writes. */
  plan: Plan;
  /** --recipe-out: write the plan as a recipe file. */
  recipeOut?: string;
}

/** What `--json` prints: the prune result, plus the eval report when --eval-data was given. */
export interface PruneCliResult extends PruneFileResult {
  eval?: EvalReport;
  /** The canonical recipe's hash (recorded in the output's metadata), and the file --recipe-out wrote. */
  recipe: RecipeSummary;
  /** --schedule polynomial: the fine-tuning the prunes ran in. */
  training?: FitResult;
}

const CRITERIA: readonly Criterion[] = ['magnitude', 'saliency', 'sparsegpt'];
const PATTERNS: readonly Pattern[] = ['unstructured', 'n:m', 'channel'];
const SCOPES: readonly Scope[] = ['layer', 'global'];

export const pruneCommand = defineCommand<PruneCliOptions>({
  name: 'prune',
  configure: (cmd) => {
    cmd
      .description('prune weights by magnitude, Taylor saliency or SparseGPT: unstructured, n:m, or whole output channels (which shrinks the model)')
      .argument('<model>', 'input model (.onnx, model.json or its folder)')
      .option('-o, --output <path>', 'output (default: model.pruned50.onnx, or folder m-pruned50/)')
      .requiredOption('--sparsity <s>', 'fraction to remove, in [0, 1): of weights, or of output channels with --pattern channel')
      .option('--method <m>', 'magnitude (default), saliency (Taylor, on --data) or sparsegpt (SparseGPT mask and weight update on --data, unstructured or n:m); --criterion is the same setting')
      .option('--criterion <c>', 'the same as --method (the round-1 name; kept)')
      .option('--pattern <p>', 'unstructured, n:m or channel', 'unstructured')
      .option('--n-m <n:m>', 'n:m pattern: n zeros in every m consecutive weights along the reduction axis', '2:4')
      .option('--scope <s>', 'layer (each layer to the target) or global (rank all layers together)', 'layer')
      .option('--exclude <glob...>', 'node or weight names to leave alone (minimatch globs)')
      .option('--min-density <d>', 'global scope: every layer keeps at least this fraction', '0.05')
      .option('--data <x>', 'saliency and sparsegpt: input samples for the gradients / layer Hessians (.npy/.npz/folder; not the eval set)')
      .option('--labels <y>', 'saliency: class ids for --data (cross-entropy); without, Fisher saliency with sampled labels')
      .option('--rounds <k>', 'saliency channel pruning: prune in k rounds, re-scoring the partly pruned model before each (default 4; other criteria/patterns: 1 only)')
      .option('--channel-multiple <n>', 'channel pattern: each group keeps a multiple of n channels (8 or 16 suit CPU kernels; default 1: exact counts)')
      .option('--samples <n>', 'saliency and sparsegpt: samples of --data to use (default 256); --schedule polynomial: training samples (default: all of --data)')
      .option('--batch-size <n>', 'saliency: mini-batch size of one gradient; sparsegpt: samples per onnxruntime run', '32')
      .option('--schedule <s>', 'one-shot (default), or polynomial: gradual magnitude pruning while fine-tuning on --data by distillation (Zhu & Gupta 2017, tfmot PolynomialDecay: s_t = s_f + (s_i - s_f)(1 - t/T)^3)', 'one-shot')
      .option('--finetune-epochs <n>', '--schedule polynomial: passes over --data (default 1)')
      .option('--frequency <n>', '--schedule polynomial: re-prune every n training steps (default 100, as tfmot)')
      .option('--initial-sparsity <s>', '--schedule polynomial: the sparsity at the first step (default 0)')
      .option('--prune-end <f>', '--schedule polynomial: the target sparsity is reached at this fraction of the steps; the mask is fixed for the rest (default 0.75)')
      .option('--teacher <model>', '--schedule polynomial: the model to distil from (default: the input model as given)')
      .option('--lr <lr>', '--schedule polynomial: learning rate (Adam, cosine schedule with 5% warmup), or "find" (default 1e-3)')
      .option('--loss <l>', '--schedule polynomial: kd (default, no labels), ce or kd+ce (with --labels)')
      .option('--seed <n>', '--schedule polynomial: shuffle seed (default 0)')
      .option('--bn-mode <m>', '--schedule polynomial: BatchNormalization while fine-tuning, frozen (default) or train (as mc finetune --bn-mode)')
      .option('--force', 'allow the output to replace the input')
      .option('--allow-partial', 'write the output even when it pruned less than 90% of the requested fraction (default: exit 2 and write nothing)')
      .option('--json', 'print the report as JSON on stdout')
      .option('--recipe-out <file>', 'also write these flags as a recipe (YAML) that `mc apply` turns into the same model');
    addEvalGateOptions(cmd, 'eval-labels');
  },
  parse: ([input], flags) => parsePruneFlags(input, flags),
  run: (o, ctx) => runRewriteWithGate(
    ctx, { title: `pruning ${o.input}`, input: o.input, json: o.json, gate: o.gate },
    async (progress): Promise<PruneCliResult> => {
      const output = o.output ?? defaultOutputPath(o.input, pruneTag(o.prune.sparsity));
      const r = await applyPlanToFile({ input: o.input, output, plan: o.plan, force: o.force, progress });
      if (o.recipeOut !== undefined) writeRecipe(r.plan, o.recipeOut, 'mc prune');
      const step = r.results[0];
      if (step.kind !== 'prune') throw new Error('a prune plan gave no prune result');
      return {
        input: r.input, output: r.output, report: step.report, size: r.size, saliencyLoss: step.saliencyLoss,
        verified: r.verified, notes: r.notes, recipe: recipeSummary(r, o.recipeOut), training: step.training,
      };
    },
    (r) => renderHuman(r, ctx),
  ),
});

/** argv values → typed options; every range check happens here, before any file is read. */
export function parsePruneFlags(input: string, flags: Readonly<Record<string, unknown>>): PruneCliOptions {
  const nmRaw = String(flags.nM ?? '2:4');
  const m = /^(\d+):(\d+)$/.exec(nmRaw);
  if (!m) throw new UsageError(`--n-m must look like 2:4, got '${nmRaw}'`);
  const prune: PruneOptions = {
    sparsity: finiteNumber(flags.sparsity, '--sparsity'),
    criterion: oneOf(methodFlag(flags) ?? PRUNE_DEFAULTS.criterion, CRITERIA, flags.method !== undefined ? '--method' : '--criterion'),
    pattern: oneOf(flags.pattern ?? PRUNE_DEFAULTS.pattern, PATTERNS, '--pattern'),
    nm: { n: Number(m[1]), m: Number(m[2]) },
    scope: oneOf(flags.scope ?? PRUNE_DEFAULTS.scope, SCOPES, '--scope'),
    exclude: stringList(flags.exclude),
    minDensity: finiteNumber(flags.minDensity ?? PRUNE_DEFAULTS.minDensity, '--min-density'),
  };
  prune.rounds = flags.rounds === undefined ? defaultRounds(prune) : wholeNumber(flags.rounds, '--rounds', 1);
  if (flags.channelMultiple !== undefined) prune.channelMultiple = wholeNumber(flags.channelMultiple, '--channel-multiple', 1);
  validatePruneOptions(prune);
  const data = optionalString(flags.data);
  if (prune.criterion === 'saliency' && !data) throw new UsageError('--criterion saliency needs --data (input samples for the gradients; --labels recommended)');
  if (prune.criterion === 'sparsegpt' && !data) throw new UsageError('--method sparsegpt needs --data (calibration inputs for the layer Hessians; not the eval set)');
  if (flags.labels !== undefined && !data) throw new UsageError('--labels needs --data');
  const gradual = parseGradual(prune, flags, data);
  const o = {
    input,
    output: optionalString(flags.output),
    prune,
    data,
    labels: optionalString(flags.labels),
    samples: wholeNumber(flags.samples ?? '256', '--samples', 1),
    batchSize: wholeNumber(flags.batchSize ?? '32', '--batch-size', 1),
    gate: evalGateFromFlags(flags, 'evalLabels'),
    force: flags.force === true,
    allowPartial: flags.allowPartial === true,
    json: flags.json === true,
    recipeOut: optionalString(flags.recipeOut),
  };
  const step: PruneStep = {
    kind: 'prune', select: { exclude: [...prune.exclude], allowEmpty: false }, options: { ...prune, exclude: [] },
    data: o.data, labels: o.labels, samples: o.samples, batchSize: o.batchSize, allowPartial: o.allowPartial, gradual,
  };
  return { ...o, plan: commandLinePlan(step, { model: input, eval: o.gate, recipeOut: o.recipeOut }) };
}

/** --schedule polynomial: the fine-tuning settings of gradual pruning; one-shot refuses its flags. */
function parseGradual(prune: PruneOptions, f: Readonly<Record<string, unknown>>, data: string | undefined): PruneStep['gradual'] {
  const schedule = oneOf(f.schedule ?? 'one-shot', ['one-shot', 'polynomial'] as const, '--schedule');
  const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  if (schedule === 'one-shot') {
    const stray = GRADUAL_KEYS.find((k) => f[camel(k)] !== undefined);
    if (stray) throw new UsageError(`--${stray} is a gradual pruning setting: it needs --schedule polynomial`);
    return undefined;
  }
  const lrFlag = f.lr === undefined ? undefined : String(f.lr);
  const lr = lrFlag === undefined || lrFlag === 'find' ? lrFlag : finiteNumber(lrFlag, '--lr');
  if (typeof lr === 'number' && !(lr > 0)) throw new UsageError(`--lr must be positive or "find", got '${lrFlag}'`);
  const frac = (v: unknown, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    const x = finiteNumber(v, flag);
    if (x < 0 || x >= 1) throw new UsageError(`${flag} must be in [0, 1)`);
    return x;
  };
  const settings = gradualSettings(prune, {
    epochs: f.finetuneEpochs === undefined ? undefined : wholeNumber(f.finetuneEpochs, '--finetune-epochs', 1),
    frequency: f.frequency === undefined ? undefined : wholeNumber(f.frequency, '--frequency', 1),
    initial: frac(f.initialSparsity, '--initial-sparsity'),
    end: frac(f.pruneEnd, '--prune-end'),
    lr: lr as number | 'find' | undefined,
    loss: f.loss === undefined ? undefined : oneOf(f.loss, ['kd', 'ce', 'kd+ce'] as const, '--loss'),
    seed: f.seed === undefined ? undefined : wholeNumber(f.seed, '--seed'),
    samples: f.samples === undefined ? undefined : wholeNumber(f.samples, '--samples', 1),
    batchSize: f.batchSize === undefined ? undefined : wholeNumber(f.batchSize, '--batch-size', 1),
    bnMode: f.bnMode === undefined ? undefined : oneOf(f.bnMode, BN_MODES, '--bn-mode'),
  }, { data, labels: optionalString(f.labels), exclude: stringList(f.exclude) });
  return { settings, teacher: optionalString(f.teacher) };
}

/** --method, or its round-1 name --criterion; both given must agree. */
function methodFlag(flags: Readonly<Record<string, unknown>>): unknown {
  if (flags.method !== undefined && flags.criterion !== undefined && flags.method !== flags.criterion) {
    throw new UsageError(`--method ${String(flags.method)} and --criterion ${String(flags.criterion)} disagree (they are one setting)`);
  }
  return flags.method ?? flags.criterion;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function renderHuman(r: PruneCliResult, ctx: CliContext): string {
  const c = ctx.chalk;
  const rep = r.report;
  const channel = rep.pattern === 'channel';
  const rows = rep.layers.map((l) => [
    l.layer, l.op, JSON.stringify(l.shape), channel ? JSON.stringify(l.newShape) : String(l.zeros),
    channel ? `${l.channelsRemoved}/${l.channels}` : '', pct(l.sparsity),
  ]);
  const head = ['layer', 'op', 'shape', channel ? 'new shape' : 'zeros', channel ? 'channels removed' : '', channel ? 'params removed' : 'sparsity'];
  let out = renderTable(head.map((h, i) => ({ header: h, align: i >= 3 ? 'right' as const : 'left' as const })), rows) + '\n';
  for (const s of rep.skipped) out += `${c.yellow('skipped')} ${s.layer}: ${s.reason}\n`;
  for (const l of rep.layers) if (l.widened) out += `${c.yellow('widened')} ${l.layer}: ${l.widened}\n`;
  const pattern = rep.pattern === 'n:m' ? `${rep.nm!.n}:${rep.nm!.m}` : rep.pattern;
  const rounds = rep.rounds && rep.rounds > 1 ? `, ${rep.rounds} rounds` : '';
  out += `${rep.criterion}${r.saliencyLoss ? ` (${r.saliencyLoss})` : ''}, ${pattern}, ${rep.scope} scope${rounds}: ${pct(rep.globalSparsity)} of pruned-layer weights ${channel ? 'removed' : 'zero'}\n`;
  if (rep.channelFraction) {
    const f = rep.channelFraction;
    const blocked = rep.groups?.filter((g) => g.reasons.length).length ?? 0;
    out += `channels removed: ${f.removed}/${f.channels} = ${pct(f.achieved)} (requested ${pct(f.requested)}); ${rep.groups?.length ?? 0} channel groups, ${blocked} not prunable\n`;
  }
  if (r.training) {
    const t = r.training;
    const last = t.epochs[t.epochs.length - 1];
    out += `gradual (polynomial) over ${t.steps} fine-tuning step(s) at ${t.lr.toExponential(2)}${last ? `, last epoch's loss ${last.loss.toFixed(4)}` : ''}\n`;
  }
  if (rep.flops) out += `MACs per sample: ${rep.flops.before.toLocaleString('en-US')} → ${rep.flops.after.toLocaleString('en-US')} (${pct(1 - rep.flops.after / rep.flops.before)} fewer)\n`;
  const b = r.size.before;
  const a = r.size.after;
  out += `${c.green('wrote')} ${r.output}: ${formatBytes(b.bytes)} → ${formatBytes(a.bytes)} raw, ${formatBytes(b.gzipBytes ?? 0)} → ${formatBytes(a.gzipBytes ?? 0)} gzip\n`;
  for (const n of r.notes) out += `${c.dim('note')} ${n}\n`;
  return out;
}
