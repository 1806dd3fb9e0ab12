/**
 * Accuracy-aware greedy, the "basic" strategy of NNCF's accuracy control and
 * Neural Compressor, with two changes: a revert moves a layer one rung safer
 * (int4 → int8 → float, 75% → 50% → 25% → dense), not straight to float, and
 * after the budget holds, the reverted layers are tried again, most bytes
 * first, keeping every step that still meets the budget (reclaim).
 *
 *   1. start from the most aggressive plan;
 *   2. while it misses the budget: move the most sensitive (layer, dimension)
 *      not yet on its safest rung one rung safer (sensitivity.ts);
 *   3. reclaim: for each (layer, dimension) off its most aggressive rung, by
 *      the bytes its next rung down saves (largest first), step it down while
 *      the plan still meets the budget and gets smaller;
 *   4. on `scope` = subset, re-check on all the data; while that misses,
 *      revert further (each step measured on all the data).
 */
import { copyAssignment, mostAggressive } from './space';
import { moreSensitive, nextAllowed, type SensitivityTable } from './sensitivity';
import { runThenHint, type Trials } from './trials';
import type { Assignment, Dimension, Scope, TrialRecord } from './types';

export interface GreedyResult {
  assignment: Assignment;
  /** The last trial of the plan on all the data. */
  trial: TrialRecord;
}

/** The most trials greedy can take (every rung reverted, every rung reclaimed, the final checks). */
export function greedyTrials(layers: number, dims: readonly Dimension[], subset: boolean): number {
  const steps = layers * dims.reduce((s, d) => s + d.rungs.length - 1, 0);
  return 1 + 2 * steps + (subset ? 1 + steps : 0);
}

export async function greedy(runner: Trials, layers: readonly string[], dims: readonly Dimension[], table: SensitivityTable, scope: Scope): Promise<GreedyResult> {
  // The most aggressive plan each layer can take (rungs whose trial alone failed are skipped).
  let a = mostAggressive(layers, dims).map((row, l) => row.map((_, d) => (table.allowed(l, d, 0) ? 0 : nextAllowed(table, dims, l, d, 0, 1)!)));
  let t = await runThenHint(runner, a, revertStep(a, dims, table), 'greedy', scope);
  ({ a, t } = await revertUntilMet(runner, a, t, dims, table, 'greedy', scope));
  if (t.passed) ({ a, t } = await reclaim(runner, a, t, dims, table, scope));
  if (scope === 'subset') {
    t = await runThenHint(runner, a, revertStep(a, dims, table), 'final', 'all');
    ({ a, t } = await revertUntilMet(runner, a, t, dims, table, 'final', 'all'));
  }
  return { assignment: a, trial: t };
}

/** `a` with the most sensitive (layer, dimension) not on its safest rung moved one rung safer; null when none is left. */
function revertStep(a: Assignment, dims: readonly Dimension[], table: SensitivityTable): Assignment | null {
  let pick: [number, number] | null = null;
  for (let l = 0; l < a.length; l++) {
    for (let d = 0; d < dims.length; d++) {
      if (a[l][d] === dims[d].rungs.length - 1) continue;
      if (!pick || moreSensitive(table.at(l, d, a[l][d]), table.at(pick[0], pick[1], a[pick[0]][pick[1]])) < 0) pick = [l, d];
    }
  }
  if (!pick) return null;
  const b = copyAssignment(a);
  b[pick[0]][pick[1]] = nextAllowed(table, dims, pick[0], pick[1], a[pick[0]][pick[1]], 1)!;
  return b;
}

async function revertUntilMet(
  runner: Trials, a: Assignment, t: TrialRecord, dims: readonly Dimension[], table: SensitivityTable,
  phase: TrialRecord['phase'], scope: Scope,
): Promise<{ a: Assignment; t: TrialRecord }> {
  while (!t.passed) {
    const b = revertStep(a, dims, table);
    if (!b) break;
    a = b;
    t = await runThenHint(runner, a, revertStep(a, dims, table), phase, scope);
  }
  return { a, t };
}

async function reclaim(
  runner: Trials, a: Assignment, t: TrialRecord, dims: readonly Dimension[], table: SensitivityTable, scope: Scope,
): Promise<{ a: Assignment; t: TrialRecord }> {
  // Bytes the next rung down saves, from the table (the safest rung saves nothing).
  const down = (l: number, d: number, r: number): number | null => nextAllowed(table, dims, l, d, r, -1);
  const saving = (l: number, d: number, r: number): number => {
    const n = down(l, d, r);
    return n === null ? 0 : (table.at(l, d, n)?.saved ?? 0) - (table.at(l, d, r)?.saved ?? 0);
  };
  const order: [number, number][] = [];
  a.forEach((row, l) => row.forEach((r, d) => { if (down(l, d, r) !== null) order.push([l, d]); }));
  order.sort((x, y) => saving(y[0], y[1], a[y[0]][y[1]]) - saving(x[0], x[1], a[x[0]][x[1]]) || x[0] - y[0] || x[1] - y[1]);
  // In `order` from index `from`: the first (layer, dimension) that can step down, stepped.
  const candidate = (from: Assignment, i0: number): { i: number; b: Assignment } | null => {
    for (let i = i0; i < order.length; i++) {
      const [l, d] = order[i];
      const n = down(l, d, from[l][d]);
      if (n === null) continue;
      const b = copyAssignment(from);
      b[l][d] = n;
      return { i, b };
    }
    return null;
  };
  // Each (layer, dimension) steps down while the plan still meets the budget and gets smaller.
  for (let c = candidate(a, 0); c;) {
    const ifMissed = candidate(a, c.i + 1);
    const u = await runThenHint(runner, c.b, ifMissed?.b ?? null, 'reclaim', scope);
    if (!u.passed || runner.size(u) >= runner.size(t)) {
      c = ifMissed;
      continue;
    }
    a = c.b;
    t = u;
    c = candidate(a, c.i);
  }
  return { a, t };
}
