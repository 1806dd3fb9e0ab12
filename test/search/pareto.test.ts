/** NSGA-II's sort and the front, against brute force on random points. */
import { crowding, dominates, nonDominatedSort, paretoFront, type Point } from '../../src/search/pareto';
import { mulberry32 } from '../../src/util/prng';

const rand = mulberry32(11);
const points = (n: number): Point[] => Array.from({ length: n }, () => ({ size: Math.floor(rand() * 20), cost: Math.floor(rand() * 20) }));

test('the front is exactly the points nothing dominates (duplicates once)', () => {
  for (let k = 0; k < 50; k++) {
    const pts = points(30);
    const front = paretoFront(pts, (p) => p);
    const brute = pts.filter((p) => !pts.some((q) => q.size <= p.size && q.cost <= p.cost && (q.size < p.size || q.cost < p.cost)));
    expect(new Set(front.map((p) => `${p.size}/${p.cost}`))).toEqual(new Set(brute.map((p) => `${p.size}/${p.cost}`)));
    expect(front.length).toBe(new Set(brute.map((p) => `${p.size}/${p.cost}`)).size);
    for (let i = 1; i < front.length; i++) expect(front[i].size).toBeGreaterThan(front[i - 1].size);
  }
});

test('ranks: rank r is the front of what remains after ranks < r are removed', () => {
  for (let k = 0; k < 30; k++) {
    const pts = points(25);
    let left = pts.map((_, i) => i);
    for (const rank of nonDominatedSort(pts)) {
      const want = left.filter((i) => !left.some((j) => dominates(pts[j], pts[i])));
      expect([...rank].sort((a, b) => a - b)).toEqual(want);
      left = left.filter((i) => !rank.includes(i));
    }
    expect(left).toEqual([]);
  }
});

test('crowding distance: boundary points infinite, inner ones the normalised sum of neighbour gaps (Deb et al. 2002)', () => {
  const pts: Point[] = [{ size: 0, cost: 10 }, { size: 2, cost: 6 }, { size: 5, cost: 5 }, { size: 10, cost: 0 }];
  const d = crowding(pts, [0, 1, 2, 3]);
  expect(d.get(0)).toBe(Infinity);
  expect(d.get(3)).toBe(Infinity);
  expect(d.get(1)).toBeCloseTo((5 - 0) / 10 + (10 - 5) / 10, 12);
  expect(d.get(2)).toBeCloseTo((10 - 2) / 10 + (6 - 0) / 10, 12);
});

test('three objectives (--objective size,latency): the front and ranks match brute force over (size, latency, cost)', () => {
  const pts3 = (n: number): Point[] => Array.from({ length: n }, () => ({ size: Math.floor(rand() * 8), cost: Math.floor(rand() * 8), latency: Math.floor(rand() * 8) }));
  const beats = (q: Point, p: Point): boolean => q.size <= p.size && q.cost <= p.cost && q.latency! <= p.latency! && (q.size < p.size || q.cost < p.cost || q.latency! < p.latency!);
  for (let k = 0; k < 40; k++) {
    const pts = pts3(30);
    const key = (p: Point): string => `${p.size}/${p.cost}/${p.latency}`;
    const brute = pts.filter((p) => !pts.some((q) => beats(q, p)));
    expect(new Set(paretoFront(pts, (p) => p).map(key))).toEqual(new Set(brute.map(key)));
    // A point better on latency alone is not dominated by one better on size and cost.
    expect(dominates({ size: 1, cost: 1, latency: 5 }, { size: 2, cost: 2, latency: 4 })).toBe(false);
    const rank0 = nonDominatedSort(pts)[0];
    expect(new Set(rank0.map((i) => key(pts[i])))).toEqual(new Set(brute.map(key)));
    const d = crowding(pts, rank0);
    for (const i of rank0) expect(d.get(i)).toBeGreaterThanOrEqual(0);
  }
});
