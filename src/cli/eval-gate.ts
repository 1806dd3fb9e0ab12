/**
 * The evaluation gate shared by `mc quantize` and `mc prune`: given
 * --eval-data (and labels and budget flags), the rewritten model is evaluated
 * against its input and the command ends with eval's report and exit code
 * (0 budgets hold, 1 one is broken).
 */
import type { Command } from 'commander';
import { UsageError } from '../errors';
import { BUDGET_SPECS, evaluate, parseBudgetValue, type Budgets, type EvalReport } from '../eval';
import type { CliContext } from './context';
import { renderHuman } from './report';

/**
 * Adds the budget flags (--max-accuracy-drop, --min-agreement, --min-sqnr,
 * --max-size-ratio, --max-latency-ratio) to a command, so eval, quantize and
 * prune accept exactly the same gate. Read them back with budgetsFromFlags.
 */
export function addBudgetOptions(cmd: Command): Command {
  for (const spec of BUDGET_SPECS) {
    cmd.option(`--${spec.flag} <${spec.arg}>`, spec.description, (raw: string) => parseBudgetValue(spec, raw));
  }
  return cmd;
}

/** The budgets among commander's parsed flags (values already checked by addBudgetOptions' parsers). */
export function budgetsFromFlags(flags: Readonly<Record<string, unknown>>): Budgets {
  const b: Budgets = {};
  for (const spec of BUDGET_SPECS) {
    const v = flags[spec.key];
    if (typeof v === 'number') b[spec.key] = v;
  }
  return b;
}

export interface EvalGate {
  data: string;
  labels?: string;
  budgets: Budgets;
}

/** Adds --eval-data, the labels flag (`--labels` for quantize, `--eval-labels` for prune) and the budget flags. */
export function addEvalGateOptions(cmd: Command, labelsFlag: 'labels' | 'eval-labels'): Command {
  cmd
    .option('--eval-data <x>', 'afterwards, evaluate the output against the input model on this data (.npy, .npz, folder)')
    .option(`--${labelsFlag} <y>`, 'labels for --eval-data (class ids): adds accuracy and --max-accuracy-drop');
  return addBudgetOptions(cmd);
}

/** The gate among parsed flags; undefined when --eval-data is absent (budgets then are a usage error). */
export function evalGateFromFlags(flags: Readonly<Record<string, unknown>>, labelsKey: 'labels' | 'evalLabels'): EvalGate | undefined {
  const budgets = budgetsFromFlags(flags);
  const data = flags.evalData;
  const labels = flags[labelsKey];
  if (data === undefined) {
    if (Object.keys(budgets).length) throw new UsageError('budget flags need --eval-data to measure against');
    if (labelsKey === 'evalLabels' && labels !== undefined) throw new UsageError('--eval-labels needs --eval-data');
    if (labelsKey === 'labels' && labels !== undefined) throw new UsageError('--labels needs --eval-data');
    return undefined;
  }
  return { data: String(data), labels: labels === undefined ? undefined : String(labels), budgets };
}

/** Evaluates `candidate` against `baseline` (its input model) on the gate's data. */
export function runEvalGate(gate: EvalGate, candidate: string, baseline: string, onProgress?: (done: number, total: number) => void): Promise<EvalReport> {
  return evaluate({ candidate, baseline, data: gate.data, labels: gate.labels, budgets: gate.budgets, onProgress });
}

/** Eval's human table, then one stderr line per broken budget; returns the exit code (0 or 1). */
export function reportEvalGate(report: EvalReport, ctx: CliContext, opts: { human: boolean }): number {
  if (opts.human) ctx.io.stdout.write(renderHuman(report, ctx.chalk));
  const broken = report.budgets.filter((b) => !b.passed);
  for (const b of broken) {
    const v = b.value === null ? '∞' : String(b.value);
    ctx.io.stderr.write(`mc: budget broken: --${b.name} measured ${v}, limit ${b.name.startsWith('max-') ? '≤' : '≥'} ${b.limit}\n`);
  }
  return broken.length ? 1 : 0;
}

/**
 * The run() body of a model-rewriting command (quantize, prune): the job under
 * a progress spinner, then the optional eval gate, then the report (human or
 * JSON) and the gate's exit code.
 */
export async function runRewriteWithGate<R extends { output: string; eval?: EvalReport }>(
  ctx: CliContext,
  o: { title: string; input: string; json: boolean; gate?: EvalGate },
  job: (progress: (message: string) => void) => Promise<R>,
  renderHuman: (result: R) => string,
): Promise<number> {
  const progress = ctx.progress(o.title, { quiet: o.json });
  let result: R;
  try {
    result = await job((m) => progress.update(m));
    if (o.gate) {
      progress.update('evaluating');
      result.eval = await runEvalGate(o.gate, result.output, o.input);
    }
    progress.stop();
  } catch (e) {
    progress.fail();
    throw e;
  }
  ctx.io.stdout.write(o.json ? JSON.stringify(result, null, 2) + '\n' : renderHuman(result));
  return result.eval ? reportEvalGate(result.eval, ctx, { human: !o.json }) : 0;
}
