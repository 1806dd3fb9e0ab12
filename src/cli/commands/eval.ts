import { UsageError } from '../../errors';
import { EVAL_DEFAULTS, evaluate, type EvalOptions, type MetricName } from '../../eval';
import { writeFileAtomic } from '../../util/atomic';
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { addBudgetOptions, budgetsFromFlags, reportEvalGate } from '../eval-gate';
import { renderJson, renderJUnit, renderMarkdown } from '../report';

export { addBudgetOptions, budgetsFromFlags } from '../eval-gate';

const METRICS: readonly MetricName[] = ['top1', 'top5', 'perplexity', 'mse'];

function intFlag(flags: Readonly<Record<string, unknown>>, key: string, flag: string, min: number): number | undefined {
  const raw = flags[key];
  if (raw === undefined) return undefined;
  const s = String(raw);
  const v = Number(s);
  if (!/^\s*\d+\s*$/.test(s) || v < min) throw new UsageError(`--${flag} needs an integer ≥ ${min}, got '${s}'`);
  return v;
}

function strFlag(flags: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const v = flags[key];
  return typeof v === 'string' ? v : undefined;
}

export interface EvalCliOptions extends EvalOptions {
  /** A file, or '-' for stdout (then nothing else goes to stdout). */
  json?: string;
  markdown?: string;
  junit?: string;
}

/** Parses `mc eval` argv values into typed options. Exported for the argv table test. */
export function parseEvalFlags(args: readonly string[], flags: Readonly<Record<string, unknown>>): EvalCliOptions {
  const metric = strFlag(flags, 'metric');
  if (metric !== undefined && !METRICS.includes(metric as MetricName)) {
    throw new UsageError(`--metric must be one of ${METRICS.join(', ')}, got '${metric}'`);
  }
  return {
    candidate: args[0],
    baseline: strFlag(flags, 'baseline'),
    data: strFlag(flags, 'data'),
    labels: strFlag(flags, 'labels'),
    metric: metric as MetricName | undefined,
    batchSize: intFlag(flags, 'batchSize', 'batch-size', 1),
    samples: intFlag(flags, 'samples', 'samples', 1),
    runs: intFlag(flags, 'runs', 'runs', 0),
    warmup: intFlag(flags, 'warmup', 'warmup', 0),
    threads: intFlag(flags, 'threads', 'threads', 1),
    perLayer: flags.perLayer === true,
    budgets: budgetsFromFlags(flags),
    json: strFlag(flags, 'json'),
    markdown: strFlag(flags, 'markdown'),
    junit: strFlag(flags, 'junit'),
  };
}

function progressReporter(ctx: CliContext, quiet: boolean): { onProgress: (done: number, total: number) => void; stop(): void } {
  const p = ctx.progress('evaluating', { quiet });
  const t0 = Date.now();
  return {
    onProgress: (done, total) => {
      const elapsed = (Date.now() - t0) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : 0;
      p.update(`evaluating ${done}/${total} samples · ETA ${eta.toFixed(0)} s`);
    },
    stop: () => p.stop(),
  };
}

export const evalCommand = defineCommand<EvalCliOptions>({
  name: 'eval',
  configure: (cmd) => {
    cmd
      .description('measure size, latency, accuracy and fidelity of a model (against a baseline), and gate on budgets')
      .argument('<candidate>', 'the model to evaluate: a .onnx file, a tfjs model.json, or its folder')
      .option('--baseline <model>', 'the reference model (e.g. the uncompressed original)')
      .option('--data <x>', 'inputs: .npy, .npz (one array per input), ONNX test-data folder, or image folder')
      .option('--labels <y>', 'labels for --data: .npy of class ids [N] or token ids [N,T]; float targets for mse')
      .option('--metric <name>', `accuracy metric: ${METRICS.join(', ')} (default: chosen from output and label shapes)`)
      .option('--batch-size <n>', `samples per run (default ${EVAL_DEFAULTS.batchSize}; a model with a fixed batch dim uses that)`)
      .option('--samples <n>', 'evaluate only the first n samples of --data')
      .option('--runs <n>', `timed runs per model; 0 skips latency (default ${EVAL_DEFAULTS.runs})`)
      .option('--warmup <n>', `untimed runs before timing (default ${EVAL_DEFAULTS.warmup})`)
      .option('--threads <n>', `onnxruntime intra-op threads (default ${EVAL_DEFAULTS.threads})`)
      .option('--per-layer', 'ONNX: SQNR of every intermediate tensor both models share; shows the 10 worst');
    addBudgetOptions(cmd);
    cmd
      .option('--json <file>', "write the report as JSON ('-' for stdout; schema in docs/eval-json-schema.md)")
      .option('--markdown <file>', 'write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)')
      .option('--junit <file>', 'write JUnit XML: one testcase per budget');
  },
  parse: parseEvalFlags,
  run: async (o, ctx) => {
    const jsonToStdout = o.json === '-';
    const progress = progressReporter(ctx, jsonToStdout);
    let report;
    try {
      report = await evaluate({ ...o, onProgress: progress.onProgress });
    } finally {
      progress.stop();
    }
    if (o.json !== undefined) {
      const text = renderJson(report);
      if (jsonToStdout) ctx.io.stdout.write(text);
      else writeFileAtomic(o.json, text);
    }
    if (o.markdown !== undefined) writeFileAtomic(o.markdown, renderMarkdown(report));
    if (o.junit !== undefined) writeFileAtomic(o.junit, renderJUnit(report));
    return reportEvalGate(report, ctx, { human: !jsonToStdout });
  },
});
