/**
 * `mc tune model --data x.npy --labels y.npy --max-accuracy-drop 0.5 -o best.onnx`:
 * searches per-layer compression plans against one constraint (docs/tune.md).
 * The flags become TuneOptions; src/search does the work and returns data;
 * this file prints the plan and progress (stderr), the summary (stdout) and
 * writes the model, recipe and report. Exit 1 when no plan met the constraint
 * (the closest one is still written), as the eval gate does.
 */
import * as path from 'path';
import { UsageError } from '../../errors';
import { BUDGET_SPECS, parseBudgetValue, type Budgets, type MetricName } from '../../eval';
import { defaultOutputPath } from '../../pipeline/output';
import {
  checkSpace, CONSTRAINT_KEYS, noiseOf, renderHtmlReport, renderMarkdownReport, tune, tuneLatency, tuneReport, writeBest,
  type CalibrationChoice, type LatencyReportData, type LatencyTuneRun, type ObjectiveName, type QuantOption, type TuneHooks, type SizeMeasure, type SpaceName, type TuneOptions, type TuneReport,
} from '../../search';
import { CALIBRATION_METHODS } from '../../passes/quantize/calibration-methods';
import { writeFileAtomic } from '../../util/atomic';
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { commaList, finiteNumber, oneOf, optionalString, wholeNumber } from '../flags';
import { formatBytes } from '../format';
import { renderTable } from '../table';

const SPACES: readonly string[] = ['quantize', 'prune', 'channels', 'static'];
/** int4, int4-b<block> (a power of two ≥ 16), int8, float. */
function quantOption(s: string): QuantOption {
  const m = /^int4-b(\d+)$/.exec(s);
  if (m && Number(m[1]) >= 16 && (Number(m[1]) & (Number(m[1]) - 1)) === 0) return s as QuantOption;
  if (s === 'int4' || s === 'int4-gptq' || s === 'int8' || s === 'float') return s;
  throw new UsageError(`--options: each must be int4, int4-b<block size> (a power of two ≥ 16, e.g. int4-b128), int4-gptq, int8 or float, got '${s}'`);
}
const METRICS: readonly MetricName[] = ['top1', 'top5', 'perplexity', 'mse'];

export interface TuneCliOptions extends TuneOptions {
  /** NetAdapt over channels (src/search/netadapt.ts) when set: a latency budget, or --objective latency. */
  latency?: { table?: string; maxLatencyRatio: number | null; iterations: number; channelSteps: number; runs: number; repeats: number; batchSize: number };
  output: string;
  recipeOut?: string;
  /** .html, .md or .json by extension. */
  report?: string;
  json: boolean;
  force: boolean;
  /** Exit 0 when the answer changes nothing (else 2, with the reasons). */
  allowEmpty: boolean;
  command: string;
}

export const tuneCommand = defineCommand<TuneCliOptions>({
  name: 'tune',
  configure: (cmd) => {
    cmd
      .description('search per-layer compression plans (int4/int8/float, sparsity) for the smallest model that meets an accuracy constraint')
      .argument('<model>', 'the float model (.onnx, or a tfjs model.json or folder)')
      .requiredOption('--data <x>', 'evaluation inputs (.npy, .npz, test-data folder, images)')
      .option('--labels <y>', 'labels for --data (needed by --max-accuracy-drop and --max-ppl-ratio)')
      .option('--calib <x>', 'calibration inputs for --options int4-gptq and --space static (not the eval data)')
      .option('--calib-methods <list>', `--space static: calibration methods to try (${CALIBRATION_METHODS.join(', ')}, percentile@99.99 for another percentage); each is measured on the all-static plan and the best is searched`, 'minmax')
      .option('--finetune-data <x>', 'prune/channels: fine-tune every pruned plan briefly by distillation from the float model on these training inputs (not the eval data) before it is scored; the recipe keeps the step (NetAdapt\'s short-term fine-tune)')
      .option('--finetune-labels <y>', 'labels for --finetune-data (not needed: the loss is distillation)')
      .option('--finetune-samples <n>', 'the first n inputs of --finetune-data (default: all)')
      .option('--finetune-epochs <n>', 'epochs over them (default: 1)')
      .option('--finetune-lr <lr>', 'learning rate (default: mc finetune\'s, 1e-3 with a cosine schedule)')
      .option('--holdout-data <x>', 'inputs the search never sees: the answer alone is measured on them afterwards, and a constraint missed there exits 1')
      .option('--holdout-labels <y>', 'labels for --holdout-data')
      .option('--metric <name>', `accuracy metric: ${METRICS.join(', ')} (default: from output and label shapes)`);
    for (const key of CONSTRAINT_KEYS) {
      const spec = BUDGET_SPECS.find((s) => s.key === key)!;
      cmd.option(`--${spec.flag} <${spec.arg}>`, `constraint: ${spec.description}`, (raw: string) => parseBudgetValue(spec, raw));
    }
    cmd
      .option('--objective <what>', 'what to minimise: size, latency (estimated from a per-layer table timed in onnxruntime here, 1 thread; --space channels alone: NetAdapt), or size,latency (the Pareto front of both; strategy auto = evolve)', 'size')
      .option('--max-latency-ratio <r>', 'latency budget (--space channels, NetAdapt): largest end-to-end latency against the float model, measured here in onnxruntime, 1 thread', (raw: string) => parseBudgetValue(BUDGET_SPECS.find((x) => x.key === 'maxLatencyRatio')!, raw))
      .option('--iterations <n>', 'NetAdapt: iterations planned from float to the latency budget', '5')
      .option('--channel-steps <n>', 'NetAdapt: a layer keeps a multiple of 1/n of its filters', '8')
      .option('--latency-runs <n>', 'latency: timed runs per measurement (blocks alternating with the float model)', '40')
      .option('--latency-repeats <n>', 'latency: measurements per table entry (median; their range is the stated noise)', '3')
      .option('--latency-table <file>', 'latency: keep the latency table in this JSON file; a rerun on the same model, CPU and settings reads it instead of measuring (and proposes the same plans)')
      .option('--batch-size <n>', 'latency: samples per timed run (mc eval\'s default is 32)', '32')
      .option('--size <measure>', 'size means: weights (stored weight bytes), file, gzip (default: weights; gzip when the space prunes)')
      .option('--space <dims>', 'dimensions: quantize (weight-only), static (static int8 per layer, with --calib; not with quantize), prune (unstructured), channels (whole filters: the model shrinks); comma list', 'quantize')
      .option('--options <list>', 'quantize rungs a layer may take: int4 (block 32), int4-b64, int4-b128 (larger blocks: fewer scales), int4-gptq (needs --calib), int8, float', 'int4,int8,float')
      .option('--sparsities <list>', 'prune / channels rungs (magnitude); dense is always a rung', '0.25,0.5,0.75')
      .option('--strategy <s>', 'auto (= greedy), greedy, evolve (NSGA-II Pareto search seeded with greedy)', 'auto')
      .option('--population <n>', 'evolve: plans per generation', '16')
      .option('--workers <n>', 'worker threads measuring trials (each with its own copy of the model and data)', '1')
      .option('--max-trials <n>', 'stop after this many trials (then write the best so far)')
      .option('--time-budget <t>', 'stop starting trials after this long: 90s, 10m, 1h')
      .option('--seed <n>', 'seed of the evolutionary search', '0')
      .option('--subset <f>', 'fraction of --data that sensitivity and search trials see (the answer is always re-checked on all of it)', '1')
      .option('--sensitivity-only', 'stop after the sensitivity table')
      .option('--log <file>', 'the trial log, JSON lines (default: <output>.tune.jsonl)')
      .option('--resume <file>', 'continue the search in this trial log without redoing its trials')
      .option('-o, --output <path>', 'the best model (default: model.tuned.onnx)')
      .option('--recipe-out <file>', 'write the recipe that reproduces the best model (mc apply)')
      .option('--report <file>', 'write the report: .html (self-contained), .md or .json')
      .option('--json', 'print the report as JSON on stdout')
      .option('--allow-empty', 'exit 0 when the answer is the float model (nothing compressed); the reasons are printed either way')
      .option('--force', 'allow the output to replace the input');
  },
  parse: ([model], flags) => parseTuneFlags(model, flags),
  run: runTune,
});

/** Parses `mc tune` argv values into typed options. Exported for the argv table test. */
export function parseTuneFlags(model: string, flags: Readonly<Record<string, unknown>>): TuneCliOptions {
  const constraint: Budgets = {};
  for (const key of CONSTRAINT_KEYS) if (typeof flags[key] === 'number') constraint[key] = flags[key] as number;
  const maxLatencyRatio = typeof flags.maxLatencyRatio === 'number' ? flags.maxLatencyRatio : undefined;
  const objective = objectiveOf(String(flags.objective ?? 'size'));
  const space = (commaList(flags.space) ?? ['quantize']).map((s) => oneOf(s, SPACES, '--space'));
  // NetAdapt: a latency budget, or latency alone over channels alone; else the ordinary search.
  const searchLatency = maxLatencyRatio !== undefined || (objective.length === 1 && objective[0] === 'latency' && space.length === 1 && space[0] === 'channels');
  if (searchLatency && Object.keys(constraint).length <= 1) {
    // NetAdapt: the latency budget, with at most one accuracy constraint (checked by tuneLatency).
  } else if (Object.keys(constraint).length !== 1) {
    throw new UsageError(`mc tune needs exactly one constraint: ${CONSTRAINT_KEYS.map((k) => `--${BUDGET_SPECS.find((s) => s.key === k)!.flag}`).join(', ')}`);
  }
  if (searchLatency && (space.length !== 1 || space[0] !== 'channels')) {
    throw new UsageError(`--max-latency-ratio: a latency budget is searched over --space channels alone (NetAdapt); over ${space.join(',')}, give --objective latency (or size,latency) with an accuracy constraint`);
  }
  if (flags.holdoutLabels !== undefined && flags.holdoutData === undefined) throw new UsageError('--holdout-labels needs --holdout-data');
  if (searchLatency && flags.holdoutData !== undefined) throw new UsageError('--holdout-data checks the answer of the size/latency-objective search; NetAdapt (--space channels with a latency budget) does not take it yet: run mc eval on its output');
  if (searchLatency && objective.includes('size') && objective.includes('latency')) throw new UsageError('--objective size,latency is a Pareto search: give an accuracy constraint, not --max-latency-ratio');
  checkSpace(space as SpaceName[], optionalString(flags.calib));
  const options = (commaList(flags.options) ?? []).map(quantOption);
  if (space.includes('quantize') && !options.length) throw new UsageError('--options needs at least one of int4, int8, float');
  const sparsities = (commaList(flags.sparsities) ?? []).map((s) => {
    const v = finiteNumber(s, '--sparsities');
    if (v <= 0 || v >= 1) throw new UsageError(`--sparsities: each must be between 0 and 1 (exclusive), got ${s}`);
    return v;
  });
  const sizeFlag = optionalString(flags.size);
  const sizeMeasure: SizeMeasure = sizeFlag === undefined ? (space.includes('prune') ? 'gzip' : 'weights') : oneOf(sizeFlag, ['weights', 'file', 'gzip'] as const, '--size');
  const strategy = oneOf(String(flags.strategy ?? 'auto'), ['auto', 'greedy', 'evolve'] as const, '--strategy');
  const latencySettings = {
    runs: wholeNumber(flags.latencyRuns ?? '40', '--latency-runs', 2),
    repeats: wholeNumber(flags.latencyRepeats ?? '3', '--latency-repeats', 1),
    batchSize: wholeNumber(flags.batchSize ?? '32', '--batch-size', 1),
  };
  const subset = finiteNumber(flags.subset ?? '1', '--subset');
  if (subset <= 0 || subset > 1) throw new UsageError(`--subset must be in (0, 1], got ${subset}`);
  const metric = optionalString(flags.metric);
  const output = optionalString(flags.output) ?? defaultOutputPath(model, 'tuned');
  const resume = optionalString(flags.resume);
  const logFlag = optionalString(flags.log);
  if (resume !== undefined && logFlag !== undefined && path.resolve(resume) !== path.resolve(logFlag)) throw new UsageError('--resume continues its own log: give --resume or --log, not both');
  return {
    model,
    data: String(flags.data),
    labels: optionalString(flags.labels),
    calib: optionalString(flags.calib),
    calibMethods: (commaList(flags.calibMethods) ?? ['minmax']).map(calibrationChoice),
    ...(flags.holdoutData !== undefined ? { holdout: { data: String(flags.holdoutData), labels: optionalString(flags.holdoutLabels) } } : {}),
    finetune: finetuneOf(flags),
    metric: metric === undefined ? undefined : oneOf(metric, METRICS, '--metric'),
    constraint,
    space: space as SpaceName[],
    options,
    sparsities,
    // Two objectives have a front, not one answer: auto searches it (NSGA-II).
    strategy: strategy === 'evolve' || (strategy === 'auto' && objective.length > 1) ? 'evolve' : 'greedy',
    objective,
    ...(objective.includes('latency') && !searchLatency ? { latencyObjective: { ...latencySettings, table: optionalString(flags.latencyTable) } } : {}),
    sizeMeasure,
    maxTrials: flags.maxTrials === undefined ? undefined : wholeNumber(flags.maxTrials, '--max-trials', 1),
    timeBudgetMs: flags.timeBudget === undefined ? undefined : parseDuration(String(flags.timeBudget)),
    seed: wholeNumber(flags.seed ?? '0', '--seed'),
    subset,
    population: wholeNumber(flags.population ?? '16', '--population', 4),
    workers: wholeNumber(flags.workers ?? '1', '--workers', 1),
    log: resume ?? logFlag ?? `${output.replace(/\.onnx$|\/$/, '')}.tune.jsonl`,
    resume: resume !== undefined,
    sensitivityOnly: flags.sensitivityOnly === true,
    output,
    recipeOut: optionalString(flags.recipeOut),
    report: optionalString(flags.report),
    json: flags.json === true,
    force: flags.force === true,
    allowEmpty: flags.allowEmpty === true,
    command: `mc tune ${path.basename(model)}`,
    ...(searchLatency ? {
      latency: {
        table: optionalString(flags.latencyTable),
        maxLatencyRatio: maxLatencyRatio ?? null,
        iterations: wholeNumber(flags.iterations ?? '5', '--iterations', 1),
        channelSteps: wholeNumber(flags.channelSteps ?? '8', '--channel-steps', 2),
        ...latencySettings,
      },
    } : {}),
  };
}

/** --calib-methods entries: a method name, or percentile@<percentage kept> (0 < p ≤ 100). */
function calibrationChoice(s: string): CalibrationChoice {
  const m = /^percentile@(\d+(?:\.\d+)?)$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[1]) <= 100) return `percentile@${Number(m[1])}`;
  if ((CALIBRATION_METHODS as readonly string[]).includes(s)) return s as CalibrationChoice;
  throw new UsageError(`--calib-methods: each must be ${CALIBRATION_METHODS.join(', ')} or percentile@<percentage kept, e.g. 99.99>, got '${s}'`);
}

/** --objective: size, latency, or both (size,latency in either order). */
function objectiveOf(raw: string): ObjectiveName[] {
  const names = raw.split(',').map((x) => x.trim());
  if (!names.length || names.some((n) => n !== 'size' && n !== 'latency') || new Set(names).size !== names.length) {
    throw new UsageError(`--objective must be size, latency or size,latency, got '${raw}'`);
  }
  return (['size', 'latency'] as const).filter((n) => names.includes(n));
}

/** '90s', '10m', '1.5h', '300' (seconds) → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(s);
  if (!m || Number(m[1]) <= 0) throw new UsageError(`--time-budget must be a duration such as 90s, 10m or 1h, got '${s}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

async function runTune(o: TuneCliOptions, ctx: CliContext): Promise<number> {
  const progress = ctx.progress(`tuning ${o.model}`, { quiet: o.json });
  const t0 = Date.now();
  let bestBytes: number | null = null;
  let run;
  try {
    const hooks: TuneHooks = {
      onPlan: (p) => {
        ctx.io.stderr.write(`mc tune: ${p.layers} layer(s), ${p.samples} samples (trials on ${p.subsetSamples}); planned at most ${p.planned} trial(s), estimated ${seconds(p.estimateMs)}${o.timeBudgetMs ? ` (time budget ${seconds(o.timeBudgetMs)})` : ''}\n`);
      },
      onTrial: (r, done, planned) => {
        const elapsed = Date.now() - t0;
        const eta = (elapsed / done) * Math.max(0, planned - done);
        if (r.passed && r.scope === 'all' && (bestBytes === null || r.weightBytes < bestBytes)) bestBytes = r.weightBytes;
        const best = bestBytes === null ? 'none meets it yet' : `best ${formatBytes(bestBytes)} weights`;
        progress.update(`trial ${done}/≤${planned} (${r.phase}) · ${best} · ETA ≤ ${seconds(eta)}`);
      },
    };
    const l = o.latency;
    run = l
      ? await tuneLatency({
        ...o, maxLatencyRatio: l.maxLatencyRatio, channelSteps: l.channelSteps, iterations: l.iterations,
        latency: { runs: l.runs, repeats: l.repeats, batchSize: l.batchSize }, latencyTable: l.table,
      }, { ...hooks, onEntry: (layer, rung) => progress.update(`latency table: ${layer} at ${rung}`) })
      : await tune(o, { ...hooks, onLatencyEntry: (layer, rung) => progress.update(`latency table: ${layer} at ${rung}`) });
    if (run.best) progress.update(`writing ${o.output}`);
    const written = run.best ? await writeBest(run, { output: o.output, recipeOut: o.recipeOut, force: o.force, command: `${o.command} --recipe-out ${o.recipeOut ? path.basename(o.recipeOut) : ''}`.trim() }) : null;
    progress.stop();
    const report = tuneReport(run, written);
    if (o.report) writeFileAtomic(o.report, o.report.endsWith('.html') ? renderHtmlReport(report) : o.report.endsWith('.md') ? renderMarkdownReport(report) : JSON.stringify(report, null, 2) + '\n');
    const lat = (run as Partial<LatencyTuneRun>).latency;
    ctx.io.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : (lat ? renderLatency(lat, ctx) : '') + renderHuman(report, ctx, written?.notes ?? [], lat?.accuracyConstraint === false));
    if (run.best && !lat && !Object.keys(run.best.plan).length) {
      // No silent success: the answer is the float model. Say why, per layer and rung.
      const why = report.sensitivity.filter((x) => x.error).map((x) => `  ${x.layer} ${x.dimension} ${x.rung}: ${x.error}`);
      ctx.io.stderr.write(`mc: the answer compresses nothing (it is the float model)${why.length ? ':\n' + why.join('\n') : `: every other plan tried misses --${run.constraint.name} ${run.constraint.limit}`}\n`);
      if (!o.allowEmpty) {
        ctx.io.stderr.write('mc: exit 2 (--allow-empty accepts an answer that changes nothing)\n');
        return 2;
      }
    }
    if (lat && !lat.met) {
      const c = lat.checks[lat.checks.length - 1];
      ctx.io.stderr.write(`mc: latency budget missed: --max-latency-ratio ${lat.budget}; the closest plan (written) measured ${round(c.ratio)} against float (all repeats but one ≤ ${round(c.high)}; that must be within the budget)\n`);
      return 1;
    }
    const h = run.holdout;
    if (run.best && run.met && h && !h.passed) {
      const c = run.constraint;
      ctx.io.stderr.write(`mc: constraint missed on held-out data: --${c.name} ${c.limit}; the answer (written) measured ${h.value === null ? '∞' : round(h.value)} on --holdout-data, ${round(-h.slack)} ${c.unit} short, where the search's data gave ${run.best.value === null ? '∞' : round(run.best.value)}\n`);
      return 1;
    }
    if (run.best && !run.met) {
      const c = run.constraint;
      ctx.io.stderr.write(`mc: constraint missed: --${c.name} ${c.limit}; the closest plan (written) measured ${run.best.value === null ? '∞' : round(run.best.value)}, ${round(-run.best.slack)} ${c.unit} short\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    progress.fail();
    throw e;
  }
}

/** `lossOnly`: no accuracy constraint was given (a latency budget alone): the answer's loss is reported, not judged. */
function renderHuman(r: TuneReport, ctx: CliContext, notes: string[], lossOnly = false): string {
  const c = ctx.chalk;
  const name = r.constraint.name;
  const v = (x: number | null): string => (x === null ? '∞' : round(x));
  let s = '';
  const bySize = r.objective.length === 1 && r.objective[0] === 'size';
  const lat = r.latencyObjective;
  if (lat) s += renderLatencyTable(r, ctx);
  if (r.sensitivity.length) {
    s += c.bold('sensitivity') + ` (each layer alone; cost = ${name} against the safest plan${bySize ? '' : `; saved = ${r.objective.join(',')} objective (objective.ts)`})\n`;
    s += renderTable(
      [{ header: 'layer' }, { header: 'dim' }, { header: 'rung' }, { header: name, align: 'right' }, { header: 'cost', align: 'right' }, { header: 'SQNR dB', align: 'right' }, { header: 'saved', align: 'right' }],
      r.sensitivity.map((x) => (x.error
        ? [x.layer, x.dimension, String(x.rung), x.error.startsWith('not faster') ? 'slower' : 'cannot', '-', '-', '-']
        : [x.layer, x.dimension, String(x.rung), v(x.value), v(x.cost), x.sqnrDb === null ? '∞' : x.sqnrDb.toFixed(1), bySize ? formatBytes(x.saved) : x.saved.toFixed(3)])),
      { styleHeader: (h) => c.bold(h) },
    );
  }
  if (r.calibration) {
    s += c.bold('calibration') + ` (every layer static int8, all data; the search uses ${r.calibration.chosen})\n`;
    s += renderTable(
      [{ header: 'method' }, { header: name, align: 'right' }, { header: 'meets', align: 'right' }, { header: 'SQNR dB', align: 'right' }],
      r.calibration.tried.map((t) => [t.method, t.error ? 'error' : v(t.value), t.passed ? 'yes' : 'no', t.sqnrDb === null ? '∞' : t.sqnrDb.toFixed(1)]),
      { styleHeader: (h) => c.bold(h) },
    );
  }
  if (r.uniform.length) {
    s += c.bold('uniform plans') + ' (all data)\n';
    s += renderTable(
      [{ header: 'option' }, { header: name, align: 'right' }, { header: 'meets', align: 'right' }, { header: `${r.sizeMeasure} size`, align: 'right' }, ...(lat ? [{ header: lat.mode === 'table' ? 'latency (est.)' : 'latency', align: 'right' as const }] : [])],
      r.uniform.map((u) => [`${u.option}${r.dimensions.some((d) => d.name === 'static') && u.option !== 'float' ? ' (static)' : ''}`, v(u.trial.value), u.trial.passed ? 'yes' : 'no', formatBytes(r.sizes[u.trial.id]), ...(lat ? [ratio(u.trial.latency)] : [])]),
      { styleHeader: (h) => c.bold(h) },
    );
  }
  if (r.plan.length) {
    s += c.bold('chosen plan') + '\n';
    s += renderTable(
      [{ header: 'layer' }, ...r.dimensions.map((d) => ({ header: d.name }))],
      r.plan.map((p) => [p.layer, ...r.dimensions.map((d) => String(p.choice[d.name]))]),
      { styleHeader: (h) => c.bold(h) },
    );
  }
  if (r.tradeoff?.length) {
    s += c.bold('size/latency trade-off') + ` (plans that meet --${name} ${r.constraint.limit} that no other such plan beats on both; pick one with its trial's plan in the log)\n`;
    s += renderTable(
      [{ header: 'trial', align: 'right' }, { header: `${r.sizeMeasure} size`, align: 'right' }, { header: 'latency (est.)', align: 'right' }, { header: name, align: 'right' }],
      r.tradeoff.map((t) => [`${t.id}${t.id === r.best?.id ? ' (answer)' : ''}`, formatBytes(r.sizes[t.id]), ratio(t.latency), v(t.value)]),
      { styleHeader: (h) => c.bold(h) },
    );
  }
  s += `${c.bold('trials')} ${r.trials.length} (${r.reused} read back from the log), planned at most ${r.planned}, ${seconds(r.elapsedMs)}; ${r.stopped === 'done' ? 'search done' : `stopped: ${r.stopped}`}; front ${r.front.length} plan(s)\n`;
  if (r.best) {
    const b = r.best;
    if (lossOnly) s += `answer: ${name.replace(/^(max|min)-/, '')} ${v(b.value)} on all ${b.scope === 'all' ? 'the data' : '(subset)'} (trial ${b.id}; no accuracy constraint given); weights ${formatBytes(b.weightBytes)}, file ${formatBytes(b.fileBytes)}\n`;
    else s += `${r.met ? c.green('met') : c.red('missed')} --${name} ${r.constraint.limit}: ${v(b.value)} on all ${b.scope === 'all' ? 'the data' : '(subset)'} (trial ${b.id}); weights ${formatBytes(b.weightBytes)}, file ${formatBytes(b.fileBytes)}\n`;
    const e = lat?.best;
    if (e) s += `latency: ${e.ratio === null ? `not measured (${e.error})` : `${e.ratio.toFixed(3)} of float measured end to end (median; all repeats but one ≤ ${e.high.toFixed(3)}; ${e.ms.toFixed(2)} ms vs ${e.floatMs.toFixed(2)} ms)`}, ${lat!.mode === 'table' ? 'table estimate' : 'in the search'} ${e.estimate.toFixed(3)}\n`;
    const h = r.holdout;
    if (h) {
      const hn0 = name === 'max-accuracy-drop' ? noiseOf(h.disagree) : null;
      const hn = hn0 ? `; noise about ±${hn0.points.toFixed(2)} points (${hn0.disagree} of ${hn0.samples} samples change class)` : '';
      s += `${h.passed ? c.green('held-out') : c.red('held-out')} ${h.error ? `error: ${h.error}` : `${v(h.value)} on --holdout-data (${h.passed ? 'meets' : 'misses'} --${name} ${r.constraint.limit}${hn})`}\n`;
    }
    const n = r.noise;
    if (n && !lossOnly) {
      s += `${n.points > r.constraint.limit ? c.yellow('noise') : 'noise'} ${n.disagree} of ${n.samples} samples change class against float: a top-1 difference on this data is known to about ±${n.points.toFixed(2)} points (√${n.disagree}/${n.samples})`;
      s += n.points > r.constraint.limit ? `, more than the budget: confirm on held-out data (--holdout-data, or mc eval), or search on more samples\n` : '\n';
    }
  }
  if (!r.best) s += `${c.bold('sensitivity only')}: no model written; the table is in the log and the report\n`;
  for (const n of notes) s += `${c.yellow('note')} ${n}\n`;
  if (r.output) s += `${c.green('wrote')} ${r.output}${r.recipe ? ` and ${r.recipe}` : ''}\n`;
  return s;
}

function ratio(x: number | undefined): string {
  return x === undefined || x === null ? '-' : Number.isFinite(x) ? x.toFixed(3) : '∞';
}

/** The latency objective's table (tune.ts): each layer alone on each rung, as a ratio to float. */
function renderLatencyTable(r: TuneReport, ctx: CliContext): string {
  const l = r.latencyObjective!;
  const c = ctx.chalk;
  if (l.mode === 'end-to-end') return `${c.bold('latency')}: every plan timed end to end (onnxruntime, 1 thread, batch ${l.settings.batchSize}, median of ${l.settings.repeats} × ${l.settings.runs} runs against float): static int8 gains from consecutive int8 layers, so a per-layer table cannot estimate it\n`;
  let s = c.bold('latency table') + ` (onnxruntime, 1 thread, batch ${l.settings.batchSize}; each layer alone, ratio to float, median of ${l.settings.repeats} × ${l.settings.runs} runs${l.cached ? '; read from --latency-table' : ''})\n`;
  s += renderTable(
    [{ header: 'layer' }, { header: 'dim' }, { header: 'rung' }, { header: 'ratio', align: 'right' }, { header: 'spread', align: 'right' }],
    l.table.map((e) => [e.layer, e.dimension, String(e.rung), e.ratio === null ? 'cannot' : e.ratio.toFixed(3), e.ratio === null ? '-' : e.spread.toFixed(3)]),
    { styleHeader: (h) => c.bold(h) },
  );
  return s;
}

function renderLatency(l: LatencyReportData, ctx: CliContext): string {
  const c = ctx.chalk;
  let s = c.bold('latency table') + ` (onnxruntime, 1 thread, batch ${l.settings.batchSize}; ratio to float, median of ${l.settings.repeats} × ${l.settings.runs} runs; spread = their range)\n`;
  s += renderTable(
    [{ header: 'layer' }, { header: 'cut', align: 'right' }, { header: 'ratio', align: 'right' }, { header: 'spread', align: 'right' }],
    l.table.map((e) => [e.layer, String(e.rung), e.ratio === null ? 'cannot' : e.ratio.toFixed(3), e.ratio === null ? '-' : e.spread.toFixed(3)]),
    { styleHeader: (h) => c.bold(h) },
  );
  for (const it of l.iterations) {
    const k = it.kept === null ? null : it.proposals[it.kept];
    s += `iteration ${it.iteration}: target ${it.target.toFixed(3)}, ${it.proposals.length} proposal(s)${k ? `; kept ${k.layer} cut ${k.rung} (estimate ${k.estimate.toFixed(3)}, loss ${k.value === null ? '∞' : round(k.value)})` : '; none possible'}\n`;
  }
  for (const ch of l.checks) s += `end to end: ${ch.ratio.toFixed(3)} of float (median; all repeats but one ≤ ${ch.high.toFixed(3)}, largest ${ch.max.toFixed(3)}, spread ${ch.spread.toFixed(3)}; ${ch.ms.toFixed(2)} ms vs ${ch.floatMs.toFixed(2)} ms), table estimate ${ch.estimate.toFixed(3)}\n`;
  const last = l.checks[l.checks.length - 1];
  if (l.budget !== null && last) s += `${l.met ? c.green('met') : c.red('missed')} --max-latency-ratio ${l.budget}: ${last.ratio.toFixed(3)} measured end to end (all repeats but one ≤ ${last.high.toFixed(3)})\n`;
  if (!l.fineTune) s += `${c.yellow('note')} proposals were scored without fine-tuning (--finetune-data trains each one briefly first)\n`;
  return s;
}

function round(x: number): string {
  return String(Number(x.toFixed(3)));
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`;
}

/** --finetune-*: the trials' short fine-tune, or undefined without --finetune-data. */
function finetuneOf(flags: Record<string, unknown>): TuneOptions['finetune'] {
  const data = optionalString(flags.finetuneData);
  const others = ['finetuneLabels', 'finetuneSamples', 'finetuneEpochs', 'finetuneLr'].filter((k) => flags[k] !== undefined);
  if (data === undefined) {
    if (others.length) throw new UsageError(`--${others[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --finetune-data`);
    return undefined;
  }
  const lr = flags.finetuneLr === undefined ? undefined : finiteNumber(flags.finetuneLr, '--finetune-lr');
  if (lr !== undefined && lr <= 0) throw new UsageError(`--finetune-lr must be above 0, got ${lr}`);
  return {
    data,
    labels: optionalString(flags.finetuneLabels),
    samples: flags.finetuneSamples === undefined ? undefined : wholeNumber(flags.finetuneSamples, '--finetune-samples', 1),
    epochs: flags.finetuneEpochs === undefined ? undefined : wholeNumber(flags.finetuneEpochs, '--finetune-epochs', 1),
    lr,
  };
}
