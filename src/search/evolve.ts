/**
 * `--strategy evolve`: NSGA-II (Deb et al., 2002) over per-layer rungs, two
 * objectives minimised: size and the constraint's cost (constraint.ts); with
 * `--objective size,latency`, three (objective.ts).
 *
 * The first population is the greedy result, the uniform plans and the most
 * aggressive plan, filled up with random assignments (seeded). Each
 * generation breeds a population of children by binary tournament on (rank,
 * crowding), uniform crossover per layer and a one-rung mutation, then keeps
 * the best of parents and children by rank and crowding. Every individual is
 * scored on the search's scope (the subset); the plans of the subset's front
 * that meet the constraint are re-checked on all the data, smallest first,
 * until one holds (at most FINAL_CHECKS), so the answer counts only on all of it.
 */
import { mulberry32 } from '../util/prng';
import { crowding, nonDominatedSort, paretoFront, type Point } from './pareto';
import { assignmentKey, mostAggressive, uniform } from './space';
import { runThenHint, type Trials } from './trials';
import type { Assignment, Dimension, QuantOption, Scope, TrialRecord } from './types';

export const GENERATIONS = 8;
const FINAL_CHECKS = 3;

export interface EvolveOptions {
  layers: readonly string[];
  dims: readonly Dimension[];
  /** Plans the first population starts from (the greedy result). */
  seeds: Assignment[];
  population: number;
  seed: number;
  scope: Scope;
  uniformOptions: readonly QuantOption[];
  /** Whether a layer may take a rung (sensitivity.ts: its trial alone did not fail). */
  allowed: (layer: number, dim: number, rung: number) => boolean;
}

export function evolveTrials(population: number): number {
  return population * (GENERATIONS + 1) + FINAL_CHECKS;
}

interface Individual {
  a: Assignment;
  t: TrialRecord;
}

export async function evolve(runner: Trials, o: EvolveOptions): Promise<void> {
  const rand = mulberry32(o.seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  const { layers, dims } = o;
  const start: Assignment[] = [...o.seeds];
  for (const opt of o.uniformOptions) start.push(uniform(layers, dims, opt)!);
  start.push(mostAggressive(layers, dims));
  const keys = new Set<string>();
  const first: Assignment[] = [];
  for (const a of start) if (!keys.has(assignmentKey(a)) && first.length < o.population) { keys.add(assignmentKey(a)); first.push(a); }
  for (let tries = 0; first.length < o.population && tries < 50 * o.population; tries++) {
    const a = clamp(layers.map(() => dims.map((d) => pick(d.rungs.length))), dims, o.allowed);
    if (!keys.has(assignmentKey(a))) { keys.add(assignmentKey(a)); first.push(a); }
  }
  const point = (i: Individual): Point => pointOf(runner, i.t);
  const firstTrials = await runner.runMany(first, 'evolve', o.scope);
  let pop: Individual[] = first.map((a, i) => ({ a, t: firstTrials[i] }));

  for (let g = 0; g < GENERATIONS; g++) {
    const rank = ranks(pop.map(point));
    const better = (i: number, j: number): number =>
      rank.rank[i] !== rank.rank[j] ? (rank.rank[i] < rank.rank[j] ? i : j) : rank.crowd[i] >= rank.crowd[j] ? i : j;
    const tournament = (): Individual => pop[better(pick(pop.length), pick(pop.length))];
    // The whole brood is bred before any child is measured, so it can be measured in parallel.
    const brood: Assignment[] = [];
    const born = new Set<string>();
    for (let tries = 0; brood.length < o.population && tries < 20 * o.population; tries++) {
      const p1 = tournament().a;
      const p2 = tournament().a;
      const c = p1.map((row, l) => [...(rand() < 0.5 ? row : p2[l])]);
      mutate(c, dims, rand);
      clamp(c, dims, o.allowed);
      const k = assignmentKey(c);
      if (born.has(k)) continue;
      born.add(k);
      brood.push(c);
    }
    const broodTrials = await runner.runMany(brood, 'evolve', o.scope);
    const children: Individual[] = brood.map((a, i) => ({ a, t: broodTrials[i] }));
    const both = [...pop, ...children.filter((c) => !pop.some((p) => p.t.key === c.t.key))];
    pop = survivors(both, both.map(point), o.population);
  }

  if (o.scope === 'subset') {
    const searched = runner.trials.filter((t) => t.scope === 'subset' && !t.error);
    const front = paretoFront(searched, (t) => pointOf(runner, t)).filter((t) => t.passed);
    const checks = front.slice(0, FINAL_CHECKS).map((t) => runner.assignmentOf(t));
    for (let i = 0; i < checks.length; i++) {
      const full = await runThenHint(runner, checks[i], checks[i + 1] ?? null, 'final', 'all');
      if (full.passed) break;
    }
  }
}

/** A record as the search's Pareto point (size and cost unless the runner says otherwise). */
export function pointOf(runner: Trials, t: TrialRecord): Point {
  return runner.point ? runner.point(t) : { size: runner.size(t), cost: runner.cost(t) };
}

/** Each rung a layer cannot take moved to the next safer one it can (in place). */
function clamp(a: Assignment, dims: readonly Dimension[], allowed: EvolveOptions['allowed']): Assignment {
  a.forEach((row, l) => row.forEach((r, d) => {
    let x = r;
    while (x < dims[d].rungs.length - 1 && !allowed(l, d, x)) x++;
    row[d] = x;
  }));
  return a;
}

/** One layer and dimension moved one rung up or down (a mutation always changes the plan). */
function mutate(a: Assignment, dims: readonly Dimension[], rand: () => number): void {
  const movable = dims.map((d, i) => i).filter((i) => dims[i].rungs.length > 1);
  if (!movable.length) return;
  const l = Math.floor(rand() * a.length);
  const d = movable[Math.floor(rand() * movable.length)];
  const top = dims[d].rungs.length - 1;
  const r = a[l][d];
  a[l][d] = r === 0 ? 1 : r === top ? top - 1 : r + (rand() < 0.5 ? -1 : 1);
}

function ranks(pts: Point[]): { rank: number[]; crowd: number[] } {
  const rank = pts.map(() => 0);
  const crowd = pts.map(() => 0);
  nonDominatedSort(pts).forEach((front, r) => {
    const c = crowding(pts, front);
    for (const i of front) {
      rank[i] = r;
      crowd[i] = c.get(i)!;
    }
  });
  return { rank, crowd };
}

/** NSGA-II environmental selection: whole fronts in rank order, the last one cut by crowding distance. */
function survivors(items: Individual[], pts: Point[], n: number): Individual[] {
  const out: Individual[] = [];
  for (const front of nonDominatedSort(pts)) {
    if (out.length + front.length <= n) {
      out.push(...front.map((i) => items[i]));
      continue;
    }
    const c = crowding(pts, front);
    const byCrowd = [...front].sort((a, b) => c.get(b)! - c.get(a)! || a - b);
    out.push(...byCrowd.slice(0, n - out.length).map((i) => items[i]));
    break;
  }
  return out;
}

