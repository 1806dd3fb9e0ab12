import { UsageError } from '../errors';
import { detectFormat, formatOf } from '../formats';
import type { Batch } from '../data/types';
import { encodeModel, openRunner, type EncodedModel, type HostTensor, type ModelRunner, type ModelSource } from '../runtime';
import { VERSION } from '../version';
import { AccuracyAccumulator, pickMetric } from './accuracy';
import { checkBudgetRequirements, checkBudgets } from './budgets';
import { FidelityAccumulator } from './fidelity';
import { alignOutputs, checkLabelCount, checkSameInputs, inputSpecs, openEvalData, openEvalLabels, synthesizeFeeds, type EvalData, type LabelSource } from './inputs';
import { measureLatency, type LatencyResult } from './latency';
import { openPerLayerPair, type PerLayerPair } from './per-layer';
import { measureSize } from './size';
import {
  SCHEMA_VERSION, type AccuracyReport, type Budgets, type Delta, type EvalOptions, type EvalReport,
  type FidelityReport, type LatencyReport, type MetricName, type ModelReport, type Settings, type SizeReport,
} from './types';

export const EVAL_DEFAULTS = { batchSize: 32, runs: 50, warmup: 5, threads: 1 } as const;

function positiveInt(name: string, v: number | undefined, fallback: number, min = 1): number {
  const x = v ?? fallback;
  if (!Number.isInteger(x) || x < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${x}`);
  return x;
}

/** Defaults filled in and checked; refuses flag combinations that cannot work before any model loads. */
export function resolveSettings(o: Omit<EvalOptions, 'candidate'>): Settings & { budgets: Budgets } {
  const s = {
    runs: positiveInt('runs', o.runs, EVAL_DEFAULTS.runs, 0),
    warmup: positiveInt('warmup', o.warmup, EVAL_DEFAULTS.warmup, 0),
    threads: positiveInt('threads', o.threads, EVAL_DEFAULTS.threads),
    batchSize: positiveInt('batch-size', o.batchSize, EVAL_DEFAULTS.batchSize),
    samples: o.samples === undefined ? null : positiveInt('samples', o.samples, 1),
    metric: o.metric ?? null,
    perLayer: o.perLayer ?? false,
    data: o.data ?? null,
    labels: o.labels ?? null,
    budgets: o.budgets ?? {},
  };
  if (s.labels && !s.data) throw new UsageError('--labels needs --data');
  if (s.metric && !s.labels) throw new UsageError('--metric needs --labels');
  if (s.perLayer && !(o.baseline && s.data)) throw new UsageError('--per-layer needs --baseline and --data');
  checkBudgetRequirements(s.budgets, { baseline: !!o.baseline, data: !!s.data, labels: !!s.labels, latency: s.runs > 0 });
  return s;
}

/** What a report calls a model: its path, or the name given to a model in memory. */
export function sourceName(source: ModelSource, given?: string): string {
  return typeof source === 'string' ? source : given ?? `in-memory ${source.format} model`;
}

/** 'onnx' or 'tfjs', of a path or a model in memory. */
export function sourceFormat(source: ModelSource): string {
  return typeof source === 'string' ? detectFormat(source) : formatOf(source);
}

export interface Side {
  source: ModelSource;
  /** A model in memory, encoded once for its runner and its size. */
  encoded?: EncodedModel;
  /** The report's name for it (sourceName). */
  path: string;
  runner: ModelRunner;
  accuracy: AccuracyAccumulator | null;
}

/** One batch of inputs, and the baseline's outputs for it when they were kept from an earlier run. */
export interface FeedBatch {
  feeds: Map<string, HostTensor>;
  count: number;
  baseline?: Map<string, HostTensor>;
}

/**
 * Evaluates a candidate model, alone or against a baseline: size, latency,
 * accuracy (with labels) and fidelity (with a baseline and data), then checks
 * the budgets. Data is streamed batch by batch; only running sums are kept.
 */
export async function evaluate(opts: EvalOptions): Promise<EvalReport> {
  const s = resolveSettings(opts);
  const runners: ModelRunner[] = [];
  let perLayer: PerLayerPair | null = null;
  try {
    const cand = await openSide(opts.candidate, opts.candidateName, s.threads);
    runners.push(cand.runner);
    let base: Side | null = null;
    if (opts.baseline) {
      base = await openSide(opts.baseline, opts.baselineName, s.threads);
      runners.push(base.runner);
    }
    const specs = inputSpecs(cand.runner);
    let outputMap: Map<string, string> | null = null;
    if (base) {
      checkSameInputs(specs, inputSpecs(base.runner), base.path);
      outputMap = alignOutputs(cand.runner.outputs, base.runner.outputs, base.path);
    }

    let data: EvalData | null = null;
    let labels: LabelSource | null = null;
    if (s.data) {
      data = openEvalData(s.data, specs, s.batchSize, s.samples ?? undefined);
      if (s.labels) {
        labels = openEvalLabels(s.labels);
        checkLabelCount(labels, s.labels, data.dataset);
      }
    }
    if (s.perLayer && base) {
      perLayer = await openPerLayerPair(cand.source, base.source, s.threads, { candidate: cand.path, baseline: base.path });
      runners.push(perLayer.candidate, perLayer.baseline);
    }

    let fidelity: FidelityReport | null = null;
    let metric: MetricName | null = s.metric;
    if (data) {
      const d = data;
      const r = await dataPass(cand, base, outputMap, streamBatches(d), labels?.batches(d.batchSize, d.samples) ?? null, s.labels, metric, perLayer, d.samples, opts.onProgress);
      fidelity = r.fidelity;
      metric = r.metric;
    }

    // Latency: the first batch of --data, or a synthetic batch of --batch-size.
    let latency: LatencyResult | null = null;
    if (s.runs > 0) {
      const feeds = data ? firstBatch(data) : synthesizeFeeds(specs, s.batchSize);
      const batchSize = data ? Math.min(data.batchSize, data.samples) : s.batchSize;
      latency = await measureLatency(cand.runner, feeds, base?.runner ?? null, base ? feeds : null, {
        runs: s.runs, warmup: s.warmup, batchSize, input: data ? 'data' : 'synthetic',
      });
    }

    const candidate = await modelReport(cand, opts.candidateName, latency?.candidate ?? null, fidelity);
    const baseline = base && await modelReport(base, opts.baselineName, latency?.baseline ?? null, null);
    return finishReport(s, { metric, batchSize: data?.batchSize ?? s.batchSize, samples: data?.samples ?? null }, candidate, baseline, latency?.ratio ?? null);
  } finally {
    for (const r of runners) await r.dispose();
  }
}

/** Opens a model in its runtime; a model in memory is encoded once, for the runner and the size report. */
export async function openSide(source: ModelSource, givenName: string | undefined, threads: number): Promise<Side> {
  const path = sourceName(source, givenName);
  const encoded = typeof source === 'string' ? undefined : encodeModel(source, path);
  const runner = await openRunner(encoded ?? source, { threads, label: path });
  return { source, encoded, path, runner, accuracy: null };
}

/** One model's part of the report; the size of a model in memory is that of the files it would be written as. */
export async function modelReport(side: Side, givenName: string | undefined, latency: LatencyReport | null, fidelity: FidelityReport | null, size?: SizeReport): Promise<ModelReport> {
  return {
    path: side.path,
    format: sourceFormat(side.source),
    size: size ?? await measureSize(side.source, givenName, side.encoded),
    latency,
    accuracy: side.accuracy?.report() ?? null,
    fidelity,
  };
}

/** The report around the two model reports: settings, delta, budgets checked. */
export function finishReport(
  s: Settings & { budgets: Budgets }, measured: Pick<Settings, 'metric' | 'batchSize' | 'samples'>,
  candidate: ModelReport, baseline: ModelReport | null, latencyRatio: number | null,
): EvalReport {
  const { budgets, ...settings } = s;
  const report: EvalReport = {
    schemaVersion: SCHEMA_VERSION,
    mcVersion: VERSION,
    settings: { ...settings, ...measured },
    baseline,
    candidate,
    delta: baseline ? computeDelta(baseline, candidate, latencyRatio) : null,
    budgets: [],
    passed: true,
  };
  report.budgets = checkBudgets(report, budgets);
  report.passed = report.budgets.every((b) => b.passed);
  return report;
}

function* streamBatches(d: EvalData): Iterable<FeedBatch> {
  for (const b of d.dataset.batches(d.batchSize, d.samples)) yield { feeds: feedsOf(b), count: b.count };
}

export function feedsOf(b: Batch): Map<string, HostTensor> {
  return new Map([...b.inputs].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }]));
}

export function firstBatch(d: EvalData): Map<string, HostTensor> {
  for (const b of d.dataset.batches(d.batchSize, d.samples)) return feedsOf(b);
  throw new UsageError(`${d.dataset.path}: no samples`);
}

/**
 * Runs the candidate over `batches`, with the baseline's outputs (kept in the
 * batch, else run here), and accumulates accuracy and fidelity.
 */
export async function dataPass(
  cand: Side, base: Side | null, outputMap: ReadonlyMap<string, string> | null, batches: Iterable<FeedBatch>, labels: Iterable<HostTensor> | null, labelsFile: string | null,
  metricOpt: MetricName | null, perLayer: PerLayerPair | null, total: number, onProgress?: (done: number, total: number) => void,
): Promise<{ fidelity: FidelityReport | null; metric: MetricName | null }> {
  const outNames = cand.runner.outputs.map((o) => o.name);
  const fid = base ? new FidelityAccumulator(outNames) : null;
  const labelIter = labels?.[Symbol.iterator]();
  let metric = metricOpt;
  let done = 0;
  for (const batch of batches) {
    const feeds = batch.feeds;
    const c = await cand.runner.run(feeds);
    // Baseline outputs, keyed by the matching candidate output's name.
    const b = base && outputMap ? renameOutputs(batch.baseline ?? await base.runner.run(feeds), outputMap) : null;
    if (labelIter && labelsFile) {
      const y = labelIter.next();
      if (y.done) throw new UsageError(`${labelsFile}: fewer labels than samples`);
      const first = c.get(outNames[0])!;
      if (!metric) metric = pickMetric(first.shape, y.value.dtype, y.value.shape, labelsFile);
      cand.accuracy ??= new AccuracyAccumulator(metric, outNames[0]);
      cand.accuracy.add(first, y.value);
      if (base && b) {
        base.accuracy ??= new AccuracyAccumulator(metric, outNames[0]);
        base.accuracy.add(b.get(outNames[0])!, y.value);
      }
    }
    if (fid && b) fid.addOutputs(b, c, batch.count);
    if (fid && perLayer && perLayer.names.length > 0) {
      const pc = await perLayer.candidate.run(feeds, perLayer.names);
      const pb = await perLayer.baseline.run(feeds, perLayer.names);
      fid.addLayers(pb, pc);
    }
    done += batch.count;
    onProgress?.(done, total);
  }
  return { fidelity: fid?.report(perLayer !== null) ?? null, metric };
}

export function renameOutputs(out: ReadonlyMap<string, HostTensor>, candToBase: ReadonlyMap<string, string>): Map<string, HostTensor> {
  const renamed = new Map<string, HostTensor>();
  for (const [c, b] of candToBase) {
    const t = out.get(b);
    if (t) renamed.set(c, t);
  }
  return renamed;
}

function ratio(a: number, b: number): number {
  return b === 0 ? (a === 0 ? 1 : Infinity) : a / b;
}

function points(base: number | null | undefined, cand: number | null | undefined): number | null {
  return base == null || cand == null ? null : (base - cand) * 100;
}

function percentWorse(base: number | null | undefined, cand: number | null | undefined): number | null {
  return base == null || cand == null ? null : ((cand - base) / base) * 100;
}

function computeDelta(b: ModelReport, c: ModelReport, latencyRatio: number | null): Delta {
  const ba: AccuracyReport | null = b.accuracy;
  const ca: AccuracyReport | null = c.accuracy;
  return {
    sizeBytes: c.size.bytes - b.size.bytes,
    sizeRatio: ratio(c.size.bytes, b.size.bytes),
    gzipBytes: c.size.gzipBytes - b.size.gzipBytes,
    gzipRatio: ratio(c.size.gzipBytes, b.size.gzipBytes),
    parameters: c.size.parameters - b.size.parameters,
    latencyMedianMs: b.latency && c.latency ? c.latency.medianMs - b.latency.medianMs : null,
    latencyRatio,
    accuracyTop1Points: points(ba?.top1, ca?.top1),
    accuracyTop5Points: points(ba?.top5, ca?.top5),
    perplexityPercent: percentWorse(ba?.perplexity, ca?.perplexity),
    perplexityRatio: ba?.perplexity == null || ca?.perplexity == null ? null : ca.perplexity / ba.perplexity,
    msePercent: percentWorse(ba?.mse, ca?.mse),
  };
}
