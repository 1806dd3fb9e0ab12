/**
 * Sensitivity: each layer compressed alone, to each rung of each dimension,
 * everything else on its safest rung; one trial per (layer, rung). The cost
 * is the constraint's change against the all-safest plan (accuracy points
 * lost, agreement lost), the saving is the size against it. Greedy reads the
 * table to choose what to revert and what to reclaim; the report draws it.
 */
import { copyAssignment, safest } from './space';
import type { Trials } from './trials';
import type { Assignment, Dimension, Scope, SensitivityRow, TrialRecord } from './types';

export interface SensitivityTable {
  rows: SensitivityRow[];
  /** The all-safest plan's trial (the reference). */
  reference: TrialRecord;
  /** rows by layer index, dimension index, rung index (undefined for the safest rung). */
  at(layer: number, dim: number, rung: number): SensitivityRow | undefined;
  /**
   * Whether a layer may take a rung: the safest always; another when its trial alone did not
   * fail (channel pruning of a layer whose channels reach a graph output, int4 refused...).
   */
  allowed(layer: number, dim: number, rung: number): boolean;
}

/** The nearest allowed rung from `r` in direction `step` (+1 safer, −1 more aggressive), or null. */
export function nextAllowed(t: SensitivityTable, dims: readonly Dimension[], l: number, d: number, r: number, step: 1 | -1): number | null {
  for (let x = r + step; x >= 0 && x < dims[d].rungs.length; x += step) if (t.allowed(l, d, x)) return x;
  return null;
}

/** How many trials sensitivity takes: one per layer and non-safest rung, plus the reference. */
export function sensitivityTrials(layers: number, dims: readonly Dimension[]): number {
  return 1 + layers * dims.reduce((s, d) => s + d.rungs.length - 1, 0);
}

/**
 * `exclude(l, d, r)`: a reason the layer may not take the rung before any trial (the latency
 * objective's rungs measured no faster than float), or null. Such a row is not run: it carries the
 * reason as its error, so the search never gives that rung to that layer.
 */
export async function measureSensitivity(
  runner: Trials, layers: readonly string[], dims: readonly Dimension[], scope: Scope,
  exclude: (l: number, d: number, r: number) => string | null = () => null,
): Promise<SensitivityTable> {
  const base = safest(layers, dims);
  const reference = await runner.run(base, 'sensitivity', scope);
  const refSize = runner.size(reference);
  const refCost = runner.cost(reference);
  const rows: SensitivityRow[] = [];
  const index = new Map<string, SensitivityRow>();
  // Every (layer, dimension, rung) but the safest, in that order: the table's rows.
  const all: [number, number, number][] = [];
  for (let l = 0; l < layers.length; l++) {
    for (let d = 0; d < dims.length; d++) for (let r = 0; r < dims[d].rungs.length - 1; r++) all.push([l, d, r]);
  }
  const cells = all.filter(([l, d, r]) => {
    const why = exclude(l, d, r);
    if (why !== null) index.set(`${l}/${d}/${r}`, { layer: layers[l], dimension: dims[d].name, rung: dims[d].rungs[r], value: null, cost: 0, sqnrDb: null, saved: 0, trial: -1, error: why });
    return why === null;
  });
  const trials = await runner.runMany(cells.map(([l, d, r]) => {
    const a: Assignment = copyAssignment(base);
    a[l][d] = r;
    return a;
  }), 'sensitivity', scope);
  cells.forEach(([l, d, r], i) => {
    const t = trials[i];
    const row: SensitivityRow = {
      layer: layers[l], dimension: dims[d].name, rung: dims[d].rungs[r],
      value: t.value, cost: runner.cost(t) - refCost, sqnrDb: t.sqnrDb, saved: refSize - runner.size(t), trial: t.id,
      ...(t.error ? { error: t.error } : {}),
    };
    index.set(`${l}/${d}/${r}`, row);
  });
  for (const [l, d, r] of all) rows.push(index.get(`${l}/${d}/${r}`)!);
  return {
    rows, reference, at: (l, d, r) => index.get(`${l}/${d}/${r}`),
    allowed: (l, d, r) => r === dims[d].rungs.length - 1 || (index.has(`${l}/${d}/${r}`) && index.get(`${l}/${d}/${r}`)!.error === undefined),
  };
}

/**
 * Which of two rows is more sensitive: larger cost first; on a tie (accuracy moves in whole
 * samples, so many layers tie at 0) lower output SQNR first; then model order.
 */
export function moreSensitive(a: SensitivityRow | undefined, b: SensitivityRow | undefined): number {
  const ca = a?.cost ?? -Infinity;
  const cb = b?.cost ?? -Infinity;
  if (ca !== cb) return cb > ca ? 1 : -1;
  const sa = a?.sqnrDb ?? Infinity;
  const sb = b?.sqnrDb ?? Infinity;
  return sa === sb ? 0 : sa < sb ? -1 : 1;
}
