/**
 * tune(): the whole search, as a library call that returns data.
 *
 *   float eval (sample count, time per trial) → planned trials and estimate →
 *   uniform plans on all the data → sensitivity (subset) → greedy + reclaim →
 *   [evolve] → the best plan on all the data, or the closest one.
 *
 * "Best": the smallest (size measure, or the --objective's scalar: objective.ts)
 * trial on all the data that meets the constraint; ties go to the larger
 * slack, then the earlier trial. Uniform
 * plans are among the candidates, so the answer is never larger than the
 * smallest uniform plan that meets the budget. "Closest" when none meets it:
 * the largest slack (least negative), then the smaller size.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../errors';
import { Evaluator } from '../eval/evaluator';
import { loadModel, modelFiles } from '../formats';
import type { Model } from '../ir';
import { VERSION } from '../version';
import { constraintOf } from './constraint';
import { evolve, evolveTrials, pointOf } from './evolve';
import { openLatencyObjective, type LatencyObjective } from './latency-objective';
import { objectiveOf } from './objective';
import { greedy, greedyTrials } from './greedy';
import { TrialLog } from './log';
import { paretoFront } from './pareto';
import { measureSensitivity, sensitivityTrials, type SensitivityTable } from './sensitivity';
import { dimensionsOf, discoverLayers, uniform, withFinetune } from './space';
import { TrialPool } from './pool';
import { StopSearch, TrialRunner } from './trials';
import { bytesOf, measureTrial, sizesOf, type MeasureContext } from './measure';
import { StatisticsMemory } from '../pipeline/static';
import type { Assignment, CalibrationChoice, Dimension, QuantOption, Scope, StopReason, TrialRecord, TuneOptions, TuneResult } from './types';

export interface TuneHooks {
  /** As each latency table entry (--objective latency) is measured. */
  onLatencyEntry?: (layer: string, rung: QuantOption | number) => void;
  /** Before the search starts: how many trials it plans (an upper bound) and the estimated time. */
  onPlan?: (p: { planned: number; estimateMs: number; layers: number; samples: number; subsetSamples: number }) => void;
  onTrial?: (r: TrialRecord, done: number, planned: number) => void;
}

export interface TuneRun extends TuneResult {
  /** The float model in memory (writeBest applies the best plan to a clone of it). */
  readonly float: Model;
}

export async function tune(o: TuneOptions, hooks: TuneHooks = {}): Promise<TuneRun> {
  const t0 = Date.now();
  const constraint = constraintOf(o.constraint);
  const label = o.model;
  const float = loadModel(o.model);
  const layers = await discoverLayers(float, label);
  if (o.options.includes('int4-gptq') && o.calib === undefined) throw new UsageError('--options int4-gptq needs --calib (calibration inputs for the layer Hessians; not the eval data)');
  let dims = withFinetune(dimensionsOf(o.space, o.options, o.sparsities, o.calib && path.resolve(o.calib), o.calibMethods?.[0]), o.finetune);
  const evalOpts = { baseline: float, baselineName: path.basename(o.model), data: o.data, labels: o.labels, metric: o.metric, runs: 0, budgets: o.constraint };
  const all = await Evaluator.create(evalOpts);
  let sub: Evaluator | null = null;
  let pool: TrialPool | null = null;
  let latency: LatencyObjective | null = null;
  const objective = o.objective ?? ['size'];
  try {
    const e0 = Date.now();
    const probe = await all.evaluate(float.clone(), { name: 'float' });
    const evalMs = Date.now() - e0;
    const samples = probe.settings.samples ?? 0;
    const subsetSamples = Math.max(1, Math.round(samples * o.subset));
    const useSubset = subsetSamples < samples;
    if (useSubset) sub = await Evaluator.create({ ...evalOpts, samples: subsetSamples });
    const scope: Scope = useSubset ? 'subset' : 'all';
    const evaluators: Record<Scope, Evaluator> = { all, subset: sub ?? all };
    const statistics = new StatisticsMemory();
    // What a measurement outside the trials (calibration choice, held-out check) needs: the dimensions as they stand.
    const context = (): MeasureContext => ({ model: float, label, layers, dims, constraint: o.constraint, evaluators, statistics });
    let calibration: TuneResult['calibration'];
    if (dims.some((d) => d.name === 'static') && (o.calibMethods?.length ?? 0) > 1) {
      ({ dims, calibration } = await chooseCalibration(context(), o.calibMethods!));
    }

    const quantDim = dims.find((d) => d.name === 'quantize' || d.name === 'static');
    const uniformOptions = (quantDim?.rungs ?? []) as QuantOption[];
    let planned = uniformOptions.length + sensitivityTrials(layers.length, dims) + greedyTrials(layers.length, dims, useSubset);
    if (o.strategy === 'evolve') planned += evolveTrials(o.population);
    if (o.maxTrials !== undefined) planned = Math.min(planned, o.maxTrials);
    // A trial is an apply (about a third of an eval here) and one eval on its share of the data.
    const perTrial = evalMs * (1.3 * (useSubset ? subsetSamples / samples : 1) + 0.3);
    hooks.onPlan?.({ planned, estimateMs: Math.min(planned * perTrial, o.timeBudgetMs ?? Infinity), layers: layers.length, samples, subsetSamples });

    // What fixes the trials' results and the order greedy asks for them. Strategy, seed and
    // population only shape what comes after greedy, so a --sensitivity-only or greedy log can
    // be resumed by an evolve search (a record is reused only at its own position: trials.ts).
    const log = TrialLog.open(o.log, {
      type: 'header', mcVersion: VERSION,
      search: {
        model: path.basename(o.model), data: path.basename(o.data), labels: o.labels && path.basename(o.labels), metric: o.metric ?? null,
        sha256: digest([...modelFiles(o.model, float), o.data, ...(o.labels ? [o.labels] : []), ...(o.calib ? [o.calib] : []), ...finetuneFiles(o)]),
        constraint: { [constraint.spec.flag]: constraint.limit }, dimensions: dims, layers, subset: o.subset, sizeMeasure: o.sizeMeasure,
        ...(objective.includes('latency') ? { objective } : {}),
      },
    }, o.resume);
    if (objective.includes('latency')) {
      // Timed before the worker threads start, so no trial shares the cores with the timing.
      const lo = o.latencyObjective ?? { runs: 40, repeats: 3, batchSize: 32 };
      latency = await openLatencyObjective(float, label, layers, dims, objective, lo, digest([...modelFiles(o.model, float)]), hooks.onLatencyEntry, statistics);
      if (latency.mode === 'end-to-end' && o.workers > 1) throw new UsageError('--space static with a latency objective times every plan end to end: give --workers 1 (trials running beside the timing would disturb it)');
    }
    const floatBytes = bytesOf(o.sizeMeasure, sizesOf(probe));
    if (o.workers > 1) {
      pool = await TrialPool.start(o.workers, {
        model: o.model, layers, dims, data: o.data, labels: o.labels, metric: o.metric, constraint: o.constraint, subsetSamples: useSubset ? subsetSamples : null,
      });
    }
    const runner = new TrialRunner({
      model: float, label, layers, dims, constraint: o.constraint, sizeMeasure: o.sizeMeasure, evaluators, statistics, log, pool: pool ?? undefined,
      objective: objective.length === 1 && objective[0] === 'size' ? undefined : objectiveOf(objective, floatBytes),
      latency: latency ? { of: (a) => latency!.estimate(a), timed: latency.mode === 'end-to-end' } : undefined,
      maxTrials: o.maxTrials, timeBudgetMs: o.timeBudgetMs, startMs: t0,
      onTrial: (r, done) => hooks.onTrial?.(r, done, planned),
    });

    let stopped: StopReason = 'done';
    let table: SensitivityTable | null = null;
    const uniformTrials: TuneResult['uniform'] = [];
    try {
      const uniforms = await runner.runMany(uniformOptions.map((opt) => uniform(layers, dims, opt)!), 'uniform', 'all');
      uniforms.forEach((trial, i) => uniformTrials.push({ option: uniformOptions[i], trial }));
      table = await measureSensitivity(runner, layers, dims, scope, latency ? latency.exclude : undefined);
      if (!o.sensitivityOnly) {
        const g = await greedy(runner, layers, dims, table, scope);
        if (o.strategy === 'evolve') await evolve(runner, { layers, dims, seeds: [g.assignment], population: o.population, seed: o.seed, scope, uniformOptions, allowed: table.allowed });
      }
    } catch (e) {
      if (!(e instanceof StopSearch)) throw e;
      stopped = e.reason;
    }

    const best = o.sensitivityOnly ? null : pickBest(runner, runner.trials.filter((t) => t.scope === 'all'));
    const searchScope = runner.trials.filter((t) => t.scope === scope && !t.error);
    const latencyObjective = latency ? await latency.finish(best ? runner.assignmentOf(best) : null, best?.latency) : undefined;
    const holdout = best && o.holdout ? await measureHoldout(context(), runner.assignmentOf(best), { ...evalOpts, data: o.holdout.data, labels: o.holdout.labels }) : undefined;
    return {
      float,
      model: o.model,
      constraint: { name: constraint.spec.flag, limit: constraint.limit, bound: constraint.spec.bound, unit: constraint.spec.unit },
      sizeMeasure: o.sizeMeasure,
      layers,
      dimensions: dims,
      sensitivity: table?.rows ?? [],
      trials: runner.trials,
      best,
      bestAssignment: best ? runner.assignmentOf(best) : null,
      met: best?.passed ?? false,
      uniform: uniformTrials,
      front: paretoFront(searchScope, (t) => pointOf(runner, t)),
      objective,
      ...(calibration ? { calibration } : {}),
      ...(holdout ? { holdout } : {}),
      ...(latencyObjective ? { latencyObjective } : {}),
      ...(objective.length > 1 ? { tradeoff: paretoFront(searchScope.filter((t) => t.passed), (t) => ({ size: runner.bytes(t), cost: t.latency ?? Number.MAX_VALUE })) } : {}),
      planned,
      stopped,
      reused: runner.reused,
      elapsedMs: Date.now() - t0,
    };
  } finally {
    await latency?.dispose();
    await pool?.close();
    await sub?.dispose();
    await all.dispose();
  }
}

/**
 * --space static with several --calib-methods: the all-static plan measured with each method on all
 * the data (the search's global calibration dimension, searched first, as Neural Compressor orders
 * its tuning), and the dimensions with the method of the largest slack (ties: the higher output
 * SQNR, then the order given).
 * These measurements are not trials of the log: they fix the dimensions the log's header names.
 */
async function chooseCalibration(c: MeasureContext, methods: readonly CalibrationChoice[]): Promise<{ dims: Dimension[]; calibration: NonNullable<TuneResult['calibration']> }> {
  const withMethod = (m: CalibrationChoice): Dimension[] => c.dims.map((d) => (d.name === 'static' ? { ...d, calibMethod: m } : d));
  const tried: NonNullable<TuneResult['calibration']>['tried'] = [];
  for (const method of methods) {
    const dims = withMethod(method);
    const r = await measureTrial({ ...c, dims }, uniform(c.layers, dims, 'int8')!, 'all', `calibration ${method}`);
    tried.push({ method, value: r.value, slack: r.slack, passed: r.passed, sqnrDb: r.sqnrDb, ...(r.error ? { error: r.error } : {}) });
  }
  // Accuracy moves in whole samples, so methods often tie on slack: then the higher output SQNR.
  const sqnr = (t: (typeof tried)[number]): number => t.sqnrDb ?? Infinity;
  let best = 0;
  for (let i = 1; i < tried.length; i++) if (tried[i].slack > tried[best].slack || (tried[i].slack === tried[best].slack && sqnr(tried[i]) > sqnr(tried[best]))) best = i;
  return { dims: withMethod(tried[best].method), calibration: { tried, chosen: tried[best].method } };
}

/** The answer on --holdout-data (its own Evaluator, opened and closed here). */
async function measureHoldout(c: MeasureContext, a: Assignment, opts: Parameters<typeof Evaluator.create>[0]): Promise<NonNullable<TuneResult['holdout']>> {
  const ev = await Evaluator.create(opts);
  try {
    const m = await measureTrial({ ...c, evaluators: { all: ev, subset: ev } }, a, 'all', 'held-out check');
    return { value: m.value, slack: m.slack, passed: m.passed, sqnrDb: m.sqnrDb, disagree: m.disagree ?? null, ...(m.error ? { error: m.error } : {}) };
  } finally {
    await ev.dispose();
  }
}

function pickBest(runner: TrialRunner, trials: TrialRecord[]): TrialRecord | null {
  const ok = trials.filter((t) => !t.error);
  if (!ok.length) return null;
  const passing = ok.filter((t) => t.passed);
  if (passing.length) return [...passing].sort((a, b) => runner.size(a) - runner.size(b) || b.slack - a.slack || a.id - b.id)[0];
  return [...ok].sort((a, b) => b.slack - a.slack || runner.size(a) - runner.size(b) || a.id - b.id)[0];
}

/**
 * One sha256 over the files' bytes (a folder: its files' names and bytes, sorted), so a log is
 * resumed only against the same model and data, not just the same file names.
 */
export function digest(paths: string[]): string {
  const h = createHash('sha256');
  const add = (p: string): void => {
    if (fs.statSync(p).isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) add(path.join(p, e));
      return;
    }
    h.update(path.basename(p)).update('\0').update(fs.readFileSync(p));
  };
  for (const p of paths) add(p);
  return h.digest('hex');
}

/** The files a trial's fine-tune reads (their bytes fix its results, as the data's do). */
export function finetuneFiles(o: Pick<TuneOptions, 'finetune'>): string[] {
  return o.finetune ? [o.finetune.data, ...(o.finetune.labels ? [o.finetune.labels] : [])] : [];
}
