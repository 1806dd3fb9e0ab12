/**
 * Pareto dominance over (size, cost), or (size, latency, cost) with
 * `--objective size,latency`, all minimised: NSGA-II's fast non-dominated
 * sort and crowding distance (Deb et al., 2002, §III-A/B), and the front of a
 * set of trials.
 */

export interface Point {
  /** The first objective: size, or the latency estimate with `--objective latency` alone. */
  size: number;
  cost: number;
  /** A third objective (`--objective size,latency`): set on every point of a set or on none. */
  latency?: number;
}

const KEYS = ['size', 'cost', 'latency'] as const;

/** a dominates b: no worse on every objective, better on one. */
export function dominates(a: Point, b: Point): boolean {
  let better = false;
  for (const k of KEYS) {
    const x = a[k];
    const y = b[k];
    if (x === undefined || y === undefined) continue;
    if (x > y) return false;
    if (x < y) better = true;
  }
  return better;
}

/** The points no other point dominates, sorted by size then cost (ties keep their first index). */
export function paretoFront<T>(items: readonly T[], point: (t: T) => Point): T[] {
  const pts = items.map(point);
  const out = items.filter((_, i) => !pts.some((p, j) => j !== i && dominates(p, pts[i])));
  const seen = new Set<string>();
  return out
    .map((t) => ({ t, p: point(t) }))
    .sort((x, y) => x.p.size - y.p.size || x.p.cost - y.p.cost)
    .filter(({ p }) => {
      const k = `${p.size}/${p.cost}/${p.latency}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .map(({ t }) => t);
}

/** Fronts by rank (indices into `pts`), best first. */
export function nonDominatedSort(pts: readonly Point[]): number[][] {
  const dominated: number[][] = pts.map(() => []);
  const count = pts.map(() => 0);
  const fronts: number[][] = [[]];
  for (let p = 0; p < pts.length; p++) {
    for (let q = 0; q < pts.length; q++) {
      if (dominates(pts[p], pts[q])) dominated[p].push(q);
      else if (dominates(pts[q], pts[p])) count[p]++;
    }
    if (count[p] === 0) fronts[0].push(p);
  }
  for (let i = 0; fronts[i].length; i++) {
    const next: number[] = [];
    for (const p of fronts[i]) for (const q of dominated[p]) if (--count[q] === 0) next.push(q);
    fronts.push(next);
  }
  fronts.pop();
  return fronts;
}

/** Crowding distance of each index of one front (boundary points: Infinity). */
export function crowding(pts: readonly Point[], front: readonly number[]): Map<number, number> {
  const d = new Map<number, number>(front.map((i) => [i, 0]));
  for (const key of KEYS) {
    if (front.some((i) => pts[i][key] === undefined)) continue;
    const v = (i: number): number => pts[i][key]!;
    const s = [...front].sort((a, b) => v(a) - v(b) || a - b);
    const lo = v(s[0]);
    const hi = v(s[s.length - 1]);
    d.set(s[0], Infinity);
    d.set(s[s.length - 1], Infinity);
    if (hi === lo) continue;
    for (let k = 1; k < s.length - 1; k++) d.set(s[k], d.get(s[k])! + (v(s[k + 1]) - v(s[k - 1])) / (hi - lo));
  }
  return d;
}
