/** --objective: the scalar the search minimises and its Pareto point (src/search/objective.ts), by their definitions. */
import { objectiveOf } from '../../src/search/objective';

test('size: bytes; latency: the estimate; size,latency: bytes / float bytes + the estimate, a 3-objective point', () => {
  const size = objectiveOf(['size'], 1000);
  expect(size.scalar(250, 0.7)).toBe(250);
  expect(size.point(250, 0.7, 3)).toEqual({ size: 250, cost: 3 });
  const lat = objectiveOf(['latency'], 1000);
  expect(lat.scalar(250, 0.7)).toBe(0.7);
  expect(lat.point(250, 0.7, 3)).toEqual({ size: 0.7, cost: 3 });
  const both = objectiveOf(['size', 'latency'], 1000);
  expect(both.scalar(250, 0.7)).toBeCloseTo(0.25 + 0.7, 12);
  expect(both.point(250, 0.7, 3)).toEqual({ size: 250, latency: 0.7, cost: 3 });
  // A plan whose latency cannot be estimated (a rung the layer cannot take) is the worst there is.
  expect(lat.scalar(1, Infinity)).toBe(Number.MAX_VALUE);
  expect(both.point(1, undefined, 0).latency).toBe(Number.MAX_VALUE);
});
