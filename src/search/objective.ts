/**
 * What the search minimises (`--objective`), as one scalar for greedy,
 * reclaim and the answer, and as a Pareto point for evolve and the front:
 *
 *   size          bytes (the size measure)                point (bytes, cost)
 *   latency       the latency table's estimate            point (latency, cost)
 *   size,latency  bytes / float bytes + latency estimate  point (bytes, latency, cost)
 *
 * The scalar of `size,latency` weighs a 1% size saving like a 1% latency
 * saving (both are ratios to the float model); the front keeps every
 * trade-off, so a user who weighs them otherwise picks another front plan.
 */
import type { Point } from './pareto';
import type { ObjectiveName } from './types';

export interface Objective {
  readonly names: readonly ObjectiveName[];
  scalar(bytes: number, latency: number | undefined): number;
  point(bytes: number, latency: number | undefined, cost: number): Point;
}

export function objectiveOf(names: readonly ObjectiveName[], floatBytes: number): Objective {
  const size = names.includes('size');
  const latency = names.includes('latency');
  // A plan without an estimate (its latency cannot be estimated) is infinitely slow.
  const lat = (l: number | undefined): number => (l === undefined || !Number.isFinite(l) ? Number.MAX_VALUE : l);
  if (size && latency) {
    return {
      names,
      scalar: (b, l) => b / Math.max(1, floatBytes) + lat(l),
      point: (b, l, cost) => ({ size: b, latency: lat(l), cost }),
    };
  }
  if (latency) return { names, scalar: (_b, l) => lat(l), point: (_b, l, cost) => ({ size: lat(l), cost }) };
  return { names, scalar: (b) => b, point: (b, _l, cost) => ({ size: b, cost }) };
}
