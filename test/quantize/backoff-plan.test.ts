/**
 * BackoffPlan's arithmetic against hand-computed figures: the greedy move
 * order, the first-order prediction N_o = f_o · Σ a_o(w) · 10^(−ΔS_w/10), the
 * re-fit of f_o, and the shortest prefix predicted to meet the budget.
 */
import { BackoffPlan, type BackoffFigures } from '../../src/pipeline/backoff-plan';

// Two rungs above the first form: +20 dB (noise × 0.01), then float (noise × 0).
const figures: BackoffFigures = {
  weights: ['a', 'b', 'c'],
  outputs: ['y'],
  alone: new Map([['a', new Map([['y', 10]])], ['b', new Map([['y', 1]])], ['c', new Map([['y', 0.5]])]]),
  first: new Map([['a', 40], ['b', 40], ['c', 40]]),
  rungs: [new Map([['a', 60], ['b', 60], ['c', 40]]), new Map([['a', Infinity], ['b', Infinity], ['c', Infinity]])],
  budget: new Map([['y', 1]]),
};

describe('BackoffPlan', () => {
  test('greedy order: the dominant weight climbs first; a rung that does not raise the weight SQNR is skipped', () => {
    const p = new BackoffPlan(figures);
    // Gains: a→0 removes 9.9, b→0 0.99, c has no better rung 0 (40 dB) so its first move is float (0.5).
    // After a→0, a's remaining noise is 0.1: a→float gains 0.1 < b→0's 0.99 and c→float's 0.5.
    expect(p.moves).toEqual([
      { weight: 'a', rung: 0 }, { weight: 'b', rung: 0 }, { weight: 'c', rung: 1 }, { weight: 'a', rung: 1 }, { weight: 'b', rung: 1 },
    ]);
  });

  test('prediction, re-fit and the shortest prefix', () => {
    const p = new BackoffPlan(figures);
    // Σ a = 11.5 unfitted; after a→0: 0.1 + 1 + 0.5 = 1.6.
    expect(p.predicted(0).get('y')).toBeCloseTo(11.5, 12);
    expect(p.predicted(1).get('y')).toBeCloseTo(1.6, 12);
    // a→0, b→0: 0.1 + 0.01 + 0.5 = 0.61 ≤ 1.
    expect(p.next(0)).toBe(2);
    // Measured 23 with nothing moved: the errors compound, f = 2.
    p.fit(new Map([['y', 23]]), 0);
    expect(p.predicted(2).get('y')).toBeCloseTo(1.22, 12);
    // 2 · (0.1 + 0.01 + 0) = 0.22 after c→float.
    expect(p.next(0)).toBe(3);
    expect(p.next(3)).toBe(4);
    expect([...p.rungsAfter(3)]).toEqual([['a', 0], ['b', 0], ['c', 1]]);
  });
});
