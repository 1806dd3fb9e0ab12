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
import type { Budgets } from '../eval/types';
import type { Model } from '../ir';
import type { StatisticsMemory } from '../pipeline/static';
import { constraintOf, costOf, type Constraint } from './constraint';
import type { TrialLog } from './log';
import { bytesOf, measureTrial, type Measured } from './measure';
import type { Objective } from './objective';
import type { Point } from './pareto';
import type { TrialPool } from './pool';
import { assignmentKey, copyAssignment, describe } from './space';
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
  /** The constraint as its one budget (what measure.ts checks) and as read back (constraint.ts). */
  constraint: Budgets;
  sizeMeasure: SizeMeasure;
  /** What size(r) minimises (default: the size measure's bytes). */
  objective?: Objective;
  /**
   * With a latency objective: a plan's latency against float (each record's `latency`). `timed`: it is
   * measured (not computed from a table), so a record read back from the log keeps its own.
   */
  latency?: { of: (a: Assignment) => number | Promise<number>; timed: boolean };
  evaluators: Record<Scope, Evaluator>;
  statistics?: StatisticsMemory;
  /** With --workers: the worker threads that measure (else the calling thread does). */
  pool?: TrialPool;
  log: TrialLog;
  maxTrials?: number;
  timeBudgetMs?: number;
  /** When the search started (Date.now()): --time-budget counts from here, setup included. */
  startMs?: number;
  /** Called as each trial finishes (batched trials: in the order they finish), with how many have. */
  onTrial?: (r: TrialRecord, done: number) => void;
}

/**
 * What the strategies (sensitivity, greedy, evolve) need from trials: run one, and read a
 * record's size, cost and assignment. TrialRunner is the real one; tests give a transcription.
 */
export interface Trials {
  readonly trials: readonly TrialRecord[];
  run(a: Assignment, phase: TrialRecord['phase'], scope: Scope): Promise<TrialRecord>;
  /** Trials that do not depend on each other, in order (in parallel with --workers). */
  runMany(list: readonly Assignment[], phase: TrialRecord['phase'], scope: Scope): Promise<TrialRecord[]>;
  /**
   * A hint: `a` is likely the next trial run (a sequential strategy's next step if this one
   * misses). With a free worker it is measured now, and counted, logged and given its id only
   * if and when `run` asks for it, so what a search records never depends on the hint.
   */
  speculate?(a: Assignment, scope: Scope): void;
  /** The scalar the search minimises (the size measure's bytes unless --objective says otherwise). */
  size(r: TrialRecord): number;
  cost(r: TrialRecord): number;
  /** The record as a Pareto point (default: size and cost). */
  point?(r: TrialRecord): Point;
  assignmentOf(r: TrialRecord): Assignment;
}

/**
 * Runs `a`, and lets a free worker measure `next` meanwhile: the trial that comes next if `a`
 * misses (Trials.speculate; it is counted only if it is run).
 */
export function runThenHint(runner: Trials, a: Assignment, next: Assignment | null, phase: TrialRecord['phase'], scope: Scope): Promise<TrialRecord> {
  const t = runner.run(a, phase, scope);
  if (next) runner.speculate?.(next, scope);
  return t;
}

export class TrialRunner implements Trials {
  readonly trials: TrialRecord[] = [];
  private readonly memo = new Map<string, TrialRecord>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly start: number;
  reused = 0;
  /** Milliseconds spent in trials run (not read back), for estimates. */
  runMs = 0;
  ran = 0;

  private readonly constraint: Constraint;
  /** Speculative measurements by trial key (speculate), consumed by measure. */
  private readonly spec = new Map<string, Promise<Measured>>();
  /** Worker lanes measuring a trial (run or speculative): settles when the lane is free again. */
  private readonly busy = new Map<number, Promise<void>>();

  constructor(private readonly o: TrialRunnerOptions) {
    this.constraint = constraintOf(o.constraint);
    this.start = o.startMs ?? Date.now();
  }

  get count(): number {
    return this.trials.length;
  }

  elapsedMs(): number {
    return Date.now() - this.start;
  }

  /** The record's size in the size measure's bytes. */
  bytes(r: TrialRecord): number {
    return bytesOf(this.o.sizeMeasure, r);
  }

  /** What the search minimises, of one record (objective.ts). */
  size(r: TrialRecord): number {
    return this.o.objective ? this.o.objective.scalar(this.bytes(r), r.latency) : this.bytes(r);
  }

  point(r: TrialRecord): Point {
    return this.o.objective ? this.o.objective.point(this.bytes(r), r.latency, this.cost(r)) : { size: this.bytes(r), cost: this.cost(r) };
  }

  cost(r: TrialRecord): number {
    return r.error ? Number.MAX_VALUE : costOf(this.constraint, r.value);
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
    return (await this.runMany([a], phase, scope))[0];
  }

  /**
   * Runs a batch of trials that do not depend on each other (sensitivity rows, a generation),
   * on as many lanes as there are workers. Free lanes take the batch's trials in order and check
   * the limits before starting each, so what ran is always a prefix of the batch and the ids,
   * records and log are those of one lane. Records come back in batch order; when a limit stops
   * the batch, what finished is recorded first and then StopSearch is thrown.
   */
  /** Call it after starting the run it looks past, so that run has its lane first. */
  speculate(a: Assignment, scope: Scope): void {
    const key = keyOf(a, scope);
    if ((this.o.pool?.size ?? 1) < 2 || this.memo.has(key) || this.spec.has(key) || this.o.log.records.has(key)) return;
    const lane = this.freeLane();
    if (lane === null) return;
    const p = this.occupy(lane, this.o.pool!.measure(lane, a, scope, 'speculative trial'));
    p.catch(() => undefined); // an unused speculation's failure is nobody's; a used one rethrows in measure
    this.spec.set(key, p);
  }

  private freeLane(): number | null {
    for (let l = 0; l < (this.o.pool?.size ?? 1); l++) if (!this.busy.has(l)) return l;
    return null;
  }

  private async laneFreed(): Promise<number> {
    for (;;) {
      await Promise.race(this.busy.values());
      const l = this.freeLane();
      if (l !== null) return l;
    }
  }

  private occupy<T>(lane: number, p: Promise<T>): Promise<T> {
    const free = (): void => void this.busy.delete(lane);
    this.busy.set(lane, p.then(free, free));
    return p;
  }

  async runMany(list: readonly Assignment[], phase: TrialRecord['phase'], scope: Scope): Promise<TrialRecord[]> {
    // A batch uses every lane: let speculative trials still on theirs finish first.
    if (list.length > 1) await Promise.all(this.busy.values());
    const slots: (TrialRecord | Promise<TrialRecord> | null)[] = list.map(() => null);
    const fresh = new Map<string, number>();
    let next = 0;
    let stop: StopSearch | null = null;
    let planned = this.count;
    let finished = this.count;
    // Decided in order, synchronously, as lanes free up: memo, duplicates, log, limits.
    const take = (): { i: number; key: string; id: number } | null => {
      while (next < list.length && !stop) {
        const i = next++;
        const key = keyOf(list[i], scope);
        const seen = this.memo.get(key);
        if (seen) { slots[i] = seen; continue; }
        if (fresh.has(key)) continue;
        if (this.o.maxTrials !== undefined && planned >= this.o.maxTrials) { stop = new StopSearch('max-trials'); break; }
        const logged = this.o.log.records.get(key);
        if (logged && logged.id === planned) {
          fresh.set(key, i);
          slots[i] = logged;
          planned++;
          this.o.onTrial?.(logged, ++finished);
          continue;
        }
        if (this.o.timeBudgetMs !== undefined && this.elapsedMs() >= this.o.timeBudgetMs) { stop = new StopSearch('time-budget'); break; }
        fresh.set(key, i);
        return { i, key, id: planned++ };
      }
      return null;
    };
    const lane = async (): Promise<void> => {
      for (let t = take(); t; t = take()) {
        const { i, key, id } = t;
        const p = this.measure(list[i], phase, scope, key, id);
        slots[i] = p;
        this.o.onTrial?.(await p, ++finished);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.o.pool?.size ?? 1) }, lane));
    const out: TrialRecord[] = [];
    for (let i = 0; i < list.length; i++) {
      const key = keyOf(list[i], scope);
      const first = fresh.get(key);
      const slot = first !== undefined && first !== i ? slots[first] : slots[i];
      if (slot === null) continue;
      const r = await slot;
      if (!this.memo.has(key)) {
        // This run's table estimates every record, those read back from a log included; a timed latency is kept.
        const lat = this.o.latency;
        if (lat && !(lat.timed && r.latency !== undefined && this.o.log.records.get(key) === r)) r.latency = roundRatio(await lat.of(list[i]));
        if (this.o.log.records.get(key) === r) this.reused++;
        else {
          this.o.log.append(r);
          this.runMs += r.ms;
          this.ran++;
        }
        this.memo.set(key, r);
        this.assignments.set(key, copyAssignment(list[i]));
        this.trials.push(r);
      }
      out.push(r);
    }
    if (stop) throw stop;
    return out;
  }

  private async measure(a: Assignment, phase: TrialRecord['phase'], scope: Scope, key: string, id: number): Promise<TrialRecord> {
    const { layers, dims, pool } = this.o;
    const name = `trial ${id}`;
    const speculated = this.spec.get(key);
    this.spec.delete(key);
    let m: Measured;
    if (speculated) m = await speculated;
    else if (pool) {
      // Synchronous when a lane is free, so a speculate() right after run() finds this lane taken.
      const lane = this.freeLane() ?? (await this.laneFreed());
      m = await this.occupy(lane, pool.measure(lane, a, scope, name));
    } else m = await measureTrial(this.o, a, scope, name);
    return { type: 'trial', id, key, phase, scope, plan: describe(a, layers, dims), ...m };
  }
}

function roundRatio(x: number): number {
  return Number.isFinite(x) ? Number(x.toFixed(6)) : x;
}

function keyOf(a: Assignment, scope: Scope): string {
  return `${scope}:${assignmentKey(a)}`;
}
