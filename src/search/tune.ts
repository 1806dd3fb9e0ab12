/**
 * tune(): the whole search, as a library call that returns data.
 *
 *   float eval (sample count, time per trial) → planned trials and estimate →
 *   uniform plans on all the data → sensitivity (subset) → greedy + reclaim →
 *   [evolve] → the best plan on all the data, or the closest one.
 *
 * "Best": the smallest (size measure) trial on all the data that meets the
 * constraint; ties go to the larger slack, then the earlier trial. Uniform
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
import { evolve, evolveTrials } from './evolve';
import { greedy, greedyTrials } from './greedy';
import { TrialLog } from './log';
import { paretoFront } from './pareto';
import { measureSensitivity, sensitivityTrials, type SensitivityTable } from './sensitivity';
import { dimensionsOf, discoverLayers, uniform, withFinetune } from './space';
import { TrialPool } from './pool';
import { StopSearch, TrialRunner } from './trials';
import type { QuantOption, Scope, StopReason, TrialRecord, TuneOptions, TuneResult } from './types';

export interface TuneHooks {
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
  const dims = withFinetune(dimensionsOf(o.space, o.options, o.sparsities, o.calib && path.resolve(o.calib)), o.finetune);
  const evalOpts = { baseline: float, baselineName: path.basename(o.model), data: o.data, labels: o.labels, metric: o.metric, runs: 0, budgets: o.constraint };
  const all = await Evaluator.create(evalOpts);
  let sub: Evaluator | null = null;
  let pool: TrialPool | null = null;
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

    const quantDim = dims.find((d) => d.name === 'quantize');
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
      },
    }, o.resume);
    if (o.workers > 1) {
      pool = await TrialPool.start(o.workers, {
        model: o.model, layers, dims, data: o.data, labels: o.labels, metric: o.metric, constraint: o.constraint, subsetSamples: useSubset ? subsetSamples : null,
      });
    }
    const runner = new TrialRunner({
      model: float, label, layers, dims, constraint: o.constraint, sizeMeasure: o.sizeMeasure, evaluators, log, pool: pool ?? undefined,
      maxTrials: o.maxTrials, timeBudgetMs: o.timeBudgetMs, startMs: t0,
      onTrial: (r, done) => hooks.onTrial?.(r, done, planned),
    });

    let stopped: StopReason = 'done';
    let table: SensitivityTable | null = null;
    const uniformTrials: TuneResult['uniform'] = [];
    try {
      const uniforms = await runner.runMany(uniformOptions.map((opt) => uniform(layers, dims, opt)!), 'uniform', 'all');
      uniforms.forEach((trial, i) => uniformTrials.push({ option: uniformOptions[i], trial }));
      table = await measureSensitivity(runner, layers, dims, scope);
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
      front: paretoFront(searchScope, (t) => ({ size: runner.size(t), cost: runner.cost(t) })),
      planned,
      stopped,
      reused: runner.reused,
      elapsedMs: Date.now() - t0,
    };
  } finally {
    await pool?.close();
    await sub?.dispose();
    await all.dispose();
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
