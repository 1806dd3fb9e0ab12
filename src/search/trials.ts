/**
 * Trials: one assignment → its Plan → applyPlan on a clone of the float
 * model → the Evaluator (on the subset or on all the data) → one record.
 * The runner memoises by key (the same plan on the same data is measured
 * once per search), reads records back from a resumed log, appends new ones,
 * and stops the search (StopSearch) when --max-trials or --time-budget is
 * reached, checked before a trial starts, so a limit is overshot by at most
 * the trial already running.
 */
import type { Evaluator } from '../eval/evaluator';
import type { EvalReport } from '../eval/types';
import type { Model } from '../ir';
import { applyPlan } from '../plan';
import { costOf, slackOf, valueOf, type Constraint } from './constraint';
import type { TrialLog } from './log';
import { assignmentKey, copyAssignment, describe, planFor } from './space';
import type { Assignment, Dimension, Scope, SizeMeasure, StopReason, TrialRecord } from './types';

export class StopSearch extends Error {
  constructor(readonly reason: Exclude<StopReason, 'done'>) {
    super(reason);
  }
}

export interface TrialRunnerOptions {
  model: Model;
  label: string;
  layers: string[];
  dims: Dimension[];
  constraint: Constraint;
  sizeMeasure: SizeMeasure;
  evaluators: Record<Scope, Evaluator>;
  log: TrialLog;
  maxTrials?: number;
  timeBudgetMs?: number;
  onTrial?: (r: TrialRecord) => void;
}

/**
 * What the strategies (sensitivity, greedy, evolve) need from trials: run one, and read a
 * record's size, cost and assignment. TrialRunner is the real one; tests give a transcription.
 */
export interface Trials {
  readonly trials: readonly TrialRecord[];
  run(a: Assignment, phase: TrialRecord['phase'], scope: Scope): Promise<TrialRecord>;
  size(r: TrialRecord): number;
  cost(r: TrialRecord): number;
  assignmentOf(r: TrialRecord): Assignment;
}

export class TrialRunner implements Trials {
  readonly trials: TrialRecord[] = [];
  private readonly memo = new Map<string, TrialRecord>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly start = Date.now();
  reused = 0;
  /** Milliseconds spent in trials run (not read back), for estimates. */
  runMs = 0;
  ran = 0;

  constructor(private readonly o: TrialRunnerOptions) {}

  get count(): number {
    return this.trials.length;
  }

  elapsedMs(): number {
    return Date.now() - this.start;
  }

  /** The size the search minimises, of one record. */
  size(r: TrialRecord): number {
    return this.o.sizeMeasure === 'weights' ? r.weightBytes : this.o.sizeMeasure === 'file' ? r.fileBytes : r.gzipBytes;
  }

  cost(r: TrialRecord): number {
    return r.error ? Number.MAX_VALUE : costOf(this.o.constraint, r.value);
  }

  /** A trial already measured in this search (no new trial is counted), or undefined. */
  known(a: Assignment, scope: Scope): TrialRecord | undefined {
    return this.memo.get(keyOf(a, scope));
  }

  /** The assignment a record of this search measured. */
  assignmentOf(r: TrialRecord): Assignment {
    return this.assignments.get(r.key)!;
  }

  async run(a: Assignment, phase: TrialRecord['phase'], scope: Scope): Promise<TrialRecord> {
    const key = keyOf(a, scope);
    const seen = this.memo.get(key);
    if (seen) return seen;
    if (this.o.maxTrials !== undefined && this.count >= this.o.maxTrials) throw new StopSearch('max-trials');
    const logged = this.o.log.records.get(key);
    let r: TrialRecord;
    if (logged && logged.id === this.count) {
      r = logged;
      this.reused++;
    } else {
      if (this.o.timeBudgetMs !== undefined && this.elapsedMs() >= this.o.timeBudgetMs) throw new StopSearch('time-budget');
      r = await this.measure(a, phase, scope, key);
      this.o.log.append(r);
      this.runMs += r.ms;
      this.ran++;
    }
    this.memo.set(key, r);
    this.assignments.set(key, copyAssignment(a));
    this.trials.push(r);
    this.o.onTrial?.(r);
    return r;
  }

  private async measure(a: Assignment, phase: TrialRecord['phase'], scope: Scope, key: string): Promise<TrialRecord> {
    const { layers, dims, constraint } = this.o;
    const t0 = Date.now();
    const base: TrialRecord = {
      type: 'trial', id: this.count, key, phase, scope, plan: describe(a, layers, dims),
      value: null, slack: -Number.MAX_VALUE, passed: false, weightBytes: 0, fileBytes: 0, gzipBytes: 0, sqnrDb: null, metric: null, ms: 0,
    };
    let report: EvalReport;
    try {
      const m = this.o.model.clone();
      const plan = planFor(a, layers, dims);
      if (plan) await applyPlan(m, plan, { label: this.o.label });
      report = await this.o.evaluators[scope].evaluate(m, { name: `trial ${base.id}` });
    } catch (e) {
      return { ...base, error: (e as Error).message.split('\n')[0], ms: Date.now() - t0 };
    }
    const value = valueOf(constraint, report);
    const size = report.candidate.size;
    const acc = report.candidate.accuracy;
    return {
      ...base,
      value,
      slack: slackOf(constraint, value),
      passed: report.budgets.every((b) => b.passed),
      weightBytes: Object.values(size.bytesByDtype).reduce((s, x) => s + x, 0),
      fileBytes: size.bytes,
      gzipBytes: size.gzipBytes,
      sqnrDb: report.candidate.fidelity?.sqnrDb ?? null,
      metric: acc ? (acc.top1 ?? acc.perplexity ?? acc.mse ?? acc.top5) : null,
      ms: Date.now() - t0,
    };
  }
}

function keyOf(a: Assignment, scope: Scope): string {
  return `${scope}:${assignmentKey(a)}`;
}
