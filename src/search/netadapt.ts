/**
 * NetAdapt (Yang et al., 2018) on channels, under a latency budget measured
 * on this machine:
 *
 *   latency table (latency-table.ts) → repeat: this iteration's target
 *   (the current estimate less one step, never below the budget); per layer,
 *   the proposal that cuts that layer's filters just far enough to meet the
 *   target (from the table); each proposal measured on the data; the one that
 *   loses least is kept → until the estimate meets the budget → the plan
 *   measured end to end (repeats, float timed in the same process; met when
 *   all repeats but one are within the budget); if it misses, the target is
 *   tightened by the gap (at most one step per check) and the loop goes on.
 *
 * Without a latency budget and with `--objective latency`, the loop runs while
 * the best proposal still meets the accuracy constraint: the answer is the
 * fastest plan that does (NetAdapt's loop, stopped by accuracy instead).
 *
 * Proposals are scored without fine-tuning unless `--finetune-data` is given:
 * then each proposal's plan ends with a recipe finetune step (distillation from
 * the float model; the paper's short-term fine-tune), run inside the trial. The
 * paper's long-term fine-tune of the answer is `mc finetune` on the output.
 * Channels are cut by magnitude through recipe steps
 * (`prune: {sparsity, pattern: channel}` with `layers`), so `mc apply` of the
 * recipe reproduces the model.
 */
import type { LatencyCache, LatencyEntry, LatencyMeter, LatencyTable } from './latency-table';
import { measureTable } from './latency-table';
import type { Trials } from './trials';
import type { Assignment, Dimension, Scope } from './types';

export interface NetAdaptOptions {
  layers: string[];
  /** One dimension: channels, rungs most aggressive first (k/steps of the filters removed), dense last. */
  dims: Dimension[];
  /** Largest end-to-end latency ratio against float; null: minimise latency while the accuracy constraint holds. */
  maxLatencyRatio: number | null;
  /** Iterations planned to go from float to the budget (the step per iteration is (1 − budget) / iterations). */
  iterations: number;
  scope: Scope;
  /** End-to-end checks of a plan whose estimate meets the budget, before giving up. */
  maxChecks: number;
  onEntry?: (layer: string, rung: number | string, e: LatencyEntry) => void;
  /** Table entries measured before (a --latency-table file); filled with what is measured now. */
  cache?: LatencyCache;
  onIteration?: (i: NetAdaptIteration) => void;
}

export interface NetAdaptIteration {
  iteration: number;
  /** The estimated ratio this iteration aimed at. */
  target: number;
  /** Proposals: the layer, the rung it was given, the estimate and the trial. */
  proposals: { layer: string; rung: number | string; estimate: number; trial: number; value: number | null }[];
  /** Index into proposals of the one kept, or null when none could be made. */
  kept: number | null;
  estimate: number;
}

export interface EndToEnd {
  /** The assignment's plan, measured against float in the same process. */
  ratio: number;
  spread: number;
  /** The largest repeat. */
  max: number;
  /** The second largest repeat: the budget counts as met when it is within it (all repeats but one, so one disturbed repeat does not decide). */
  high: number;
  ms: number;
  floatMs: number;
  estimate: number;
  trial: number | null;
}

export interface NetAdaptResult {
  assignment: Assignment;
  table: LatencyTable;
  iterations: NetAdaptIteration[];
  checks: EndToEnd[];
  /** Whether the last end-to-end check met the budget (with no budget: whether the answer meets the accuracy constraint). */
  met: boolean;
}

export async function netadapt(runner: Trials, meter: LatencyMeter, o: NetAdaptOptions): Promise<NetAdaptResult> {
  const { layers, dims } = o;
  const table = await measureTable(meter, layers, dims, 0, o.onEntry, o.cache);
  let a: Assignment = layers.map(() => [dims[0].rungs.length - 1]);
  const budget = o.maxLatencyRatio;
  const step = (1 - (budget ?? 0.5)) / o.iterations;
  let target = budget ?? 0;
  const iterations: NetAdaptIteration[] = [];
  const checks: EndToEnd[] = [];
  let lastPassing: Assignment | null = budget === null ? a : null;
  let checked: Assignment | null = null;
  const check = async (x: Assignment): Promise<EndToEnd> => {
    const e = await meter.measure(x, layers, dims, meter.settings.repeats + 2);
    const c = { ratio: e.ratio ?? Infinity, spread: e.spread, max: e.max, high: e.high, ms: e.ms, floatMs: e.floatMs, estimate: table.estimate(x), trial: null };
    checks.push(c);
    checked = x;
    return c;
  };
  for (let it = 0; ; it++) {
    const est = table.estimate(a);
    if (budget !== null && est <= target) {
      const c = await check(a);
      // Met when all repeats but one are within the budget: a median just under it is noise's call.
      if (c.high <= budget || checks.length >= o.maxChecks) break;
      // Missed by this much: aim that much lower than this plan's estimate, by at most one
      // iteration's step per check, so one disturbed check cannot send the search far past the budget.
      target = Math.min(target, est) - Math.min(Math.max(c.high - budget, 0.01), step);
    }
    const goal = Math.max(target, est - step);
    const proposals: NetAdaptIteration['proposals'] = [];
    const list: Assignment[] = [];
    for (let l = 0; l < layers.length; l++) {
      // The fewest filters cut that meet this iteration's goal; else the deepest cut the layer allows.
      let pick = -1;
      for (let r = a[l][0] - 1; r >= 0; r--) {
        const b = a.map((x) => [...x]);
        b[l][0] = r;
        const e = table.estimate(b);
        if (!Number.isFinite(e)) break;
        pick = r;
        if (e <= goal) break;
      }
      if (pick < 0) continue;
      const b = a.map((x) => [...x]);
      b[l][0] = pick;
      list.push(b);
      proposals.push({ layer: layers[l], rung: dims[0].rungs[pick], estimate: table.estimate(b), trial: -1, value: null });
    }
    if (!list.length) {
      iterations.push({ iteration: it, target: goal, proposals, kept: null, estimate: est });
      o.onIteration?.(iterations[iterations.length - 1]);
      break;
    }
    const trials = await runner.runMany(list, 'netadapt', o.scope);
    trials.forEach((t, i) => {
      proposals[i].trial = t.id;
      proposals[i].value = t.value;
    });
    // The least loss (the constraint's cost); ties: the faster estimate, then the earlier layer.
    let k = 0;
    for (let i = 1; i < trials.length; i++) {
      const d = runner.cost(trials[i]) - runner.cost(trials[k]);
      if (d < 0 || (d === 0 && proposals[i].estimate < proposals[k].estimate)) k = i;
    }
    iterations.push({ iteration: it, target: goal, proposals, kept: k, estimate: proposals[k].estimate });
    o.onIteration?.(iterations[iterations.length - 1]);
    if (budget === null) {
      if (!trials[k].passed) break;
      lastPassing = list[k];
    }
    a = list[k];
  }
  if (budget === null) a = lastPassing!;
  if (checked !== a) await check(a);
  const last = checks[checks.length - 1];
  return { assignment: a, table, iterations, checks, met: budget === null ? true : !!last && last.high <= budget };
}

