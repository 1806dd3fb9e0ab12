/**
 * tuneLatency(): `mc tune --space channels` with a latency budget
 * (`--max-latency-ratio`, the eval gate's name for it) or `--objective
 * latency`: NetAdapt (netadapt.ts) over per-layer channel counts, with the
 * latency table and end-to-end checks of latency-table.ts, and the accuracy
 * trials of the ordinary search (TrialRunner: log, --resume, --workers,
 * --max-trials). The answer is measured on all the data and returned as a
 * TuneRun, so writeBest, the recipe and the reports are the size search's.
 */
import * as path from 'path';
import { UsageError } from '../errors';
import { Evaluator } from '../eval/evaluator';
import type { Budgets } from '../eval/types';
import { loadModel, modelFiles } from '../formats';
import { cpuLine, detectCpu } from '../runtime';
import { VERSION } from '../version';
import { constraintOf, CONSTRAINT_KEYS } from './constraint';
import { LatencyMeter, layerShapeKey, readLatencyCache, writeLatencyCache, type LatencyCache, type LatencyEntry, type LatencySettings } from './latency-table';
import { TrialLog } from './log';
import { netadapt, type EndToEnd, type NetAdaptIteration } from './netadapt';
import { TrialPool } from './pool';
import { discoverLayers, withFinetune } from './space';
import { StopSearch, TrialRunner } from './trials';
import type { Dimension, Scope, StopReason, TuneOptions } from './types';
import { digest as modelDigest, finetuneFiles, type TuneHooks, type TuneRun } from './tune';

export interface LatencyTuneOptions extends TuneOptions {
  /** The latency budget: largest end-to-end ratio against float; null with --objective latency and an accuracy constraint. */
  maxLatencyRatio: number | null;
  /** Channel granularity: rungs remove k/steps of a layer's filters, k = steps−1 … 1. */
  channelSteps: number;
  /** Iterations planned from float to the budget. */
  iterations: number;
  latency: LatencySettings;
  /** A JSON file of table entries: read when it matches this model and these settings, written after measuring. */
  latencyTable?: string;
}

export interface LatencyReportData {
  budget: number | null;
  settings: LatencySettings & { threads: 1; runtime: 'onnxruntime' };
  /** Per layer (key: name[weight shape]) and rung: the table's median ratio and spread. */
  table: { layer: string; rung: number | string; ratio: number | null; spread: number; error?: string }[];
  iterations: NetAdaptIteration[];
  /** End-to-end checks, the last one of the answer. */
  checks: EndToEnd[];
  /** Whether the answer's end-to-end ratio meets the budget. */
  met: boolean;
  /** Whether an accuracy constraint was given (else the trials' loss is only reported). */
  accuracyConstraint: boolean;
  /** Whether each proposal was fine-tuned before it was scored (--finetune-data). */
  fineTune: boolean;
}

export interface LatencyTuneRun extends TuneRun {
  latency: LatencyReportData;
}

export async function tuneLatency(o: LatencyTuneOptions, hooks: TuneHooks & { onEntry?: (layer: string, rung: number | string, e: LatencyEntry) => void } = {}): Promise<LatencyTuneRun> {
  const t0 = Date.now();
  if (o.space.length !== 1 || o.space[0] !== 'channels') throw new UsageError('a latency budget (--max-latency-ratio) is searched over --space channels only (NetAdapt); --objective latency searches the other spaces');
  const given = CONSTRAINT_KEYS.filter((k) => o.constraint[k] !== undefined);
  if (o.maxLatencyRatio === null && !given.length) throw new UsageError('--objective latency without --max-latency-ratio needs an accuracy constraint (e.g. --max-accuracy-drop 1): the search stops where it would be missed');
  // Without an accuracy constraint the trials still measure the loss: a limit every plan meets.
  const tracking: Budgets = given.length ? o.constraint : o.labels ? { maxAccuracyDrop: 100 } : { minAgreement: 0 };
  const constraint = constraintOf(tracking);
  const label = o.model;
  const float = loadModel(o.model);
  const layers = await discoverLayers(float, label);
  const steps = o.channelSteps;
  const dims: Dimension[] = withFinetune([{ name: 'channels', rungs: [...Array.from({ length: steps - 1 }, (_, i) => (steps - 1 - i) / steps), 0] }], o.finetune);
  const evalOpts = { baseline: float, baselineName: path.basename(o.model), data: o.data, labels: o.labels, metric: o.metric, runs: 0, budgets: tracking };
  const all = await Evaluator.create(evalOpts);
  let sub: Evaluator | null = null;
  let pool: TrialPool | null = null;
  const meter = await LatencyMeter.open(float, label, o.latency);
  try {
    const probe = await all.evaluate(float.clone(), { name: 'float' });
    const samples = probe.settings.samples ?? 0;
    const subsetSamples = Math.max(1, Math.round(samples * o.subset));
    const useSubset = subsetSamples < samples;
    if (useSubset) sub = await Evaluator.create({ ...evalOpts, samples: subsetSamples });
    const scope: Scope = useSubset ? 'subset' : 'all';
    const planned = o.iterations * 2 * layers.length + 1;
    hooks.onPlan?.({ planned, estimateMs: 0, layers: layers.length, samples, subsetSamples });
    const digest = modelDigest([...modelFiles(o.model, float)]);
    const log = TrialLog.open(o.log, {
      type: 'header', mcVersion: VERSION,
      search: {
        model: path.basename(o.model), data: path.basename(o.data), labels: o.labels && path.basename(o.labels), metric: o.metric ?? null,
        sha256: modelDigest([...modelFiles(o.model, float), o.data, ...(o.labels ? [o.labels] : []), ...finetuneFiles(o)]),
        constraint: { [constraint.spec.flag]: constraint.limit }, dimensions: dims, layers, subset: o.subset, sizeMeasure: o.sizeMeasure,
        latency: { maxLatencyRatio: o.maxLatencyRatio, iterations: o.iterations },
      },
    }, o.resume);
    if (o.workers > 1) {
      pool = await TrialPool.start(o.workers, {
        model: o.model, layers, dims, data: o.data, labels: o.labels, metric: o.metric, constraint: tracking, subsetSamples: useSubset ? subsetSamples : null,
      });
    }
    const runner = new TrialRunner({
      model: float, label, layers, dims, constraint: tracking, sizeMeasure: o.sizeMeasure, evaluators: { all, subset: sub ?? all }, log, pool: pool ?? undefined,
      maxTrials: o.maxTrials, timeBudgetMs: o.timeBudgetMs, startMs: t0,
      onTrial: (r, done) => hooks.onTrial?.(r, done, planned),
    });
    const table: LatencyReportData['table'] = [];
    const cacheId = { model: digest, settings: o.latency, cpu: cpuLine(detectCpu()) };
    const cache: LatencyCache = { keyOf: (layer) => layerShapeKey(float, layer), entries: readLatencyCache(o.latencyTable, cacheId) };
    let stopped: StopReason = 'done';
    let result;
    try {
      result = await netadapt(runner, meter, {
        layers, dims, maxLatencyRatio: o.maxLatencyRatio, iterations: o.iterations, scope, maxChecks: 6, cache,
        onEntry: (layer, rung, e) => {
          table.push({ layer: layerShapeKey(float, layer), rung, ratio: e.ratio, spread: e.spread, ...(e.error ? { error: e.error } : {}) });
          hooks.onEntry?.(layer, rung, e);
        },
      });
    } catch (e) {
      if (!(e instanceof StopSearch)) throw e;
      stopped = e.reason;
    }
    if (o.latencyTable) writeLatencyCache(o.latencyTable, cacheId, cache.entries);
    if (!result) throw new UsageError(`mc tune: stopped (${stopped}) before NetAdapt reached an answer; give a larger --max-trials / --time-budget`);
    // The answer on all the data (a new trial unless the search already ran on all of it).
    const best = await runner.run(result.assignment, 'final', 'all');
    const accuracyMet = best.passed;
    return {
      float,
      model: o.model,
      constraint: { name: constraint.spec.flag, limit: constraint.limit, bound: constraint.spec.bound, unit: constraint.spec.unit },
      sizeMeasure: o.sizeMeasure,
      layers,
      dimensions: dims,
      sensitivity: [],
      trials: runner.trials,
      best,
      bestAssignment: result.assignment,
      met: result.met && accuracyMet,
      uniform: [],
      front: [],
      objective: ['latency'],
      planned,
      stopped,
      reused: runner.reused,
      elapsedMs: Date.now() - t0,
      latency: {
        budget: o.maxLatencyRatio,
        settings: { ...o.latency, threads: 1, runtime: 'onnxruntime' },
        table,
        iterations: result.iterations,
        checks: result.checks,
        met: result.met,
        accuracyConstraint: given.length > 0,
        fineTune: o.finetune !== undefined,
      },
    };
  } finally {
    await meter.dispose();
    await pool?.close();
    await sub?.dispose();
    await all.dispose();
  }
}
