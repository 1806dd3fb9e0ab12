/** test/helpers/paired.ts against binomial tails written out by hand. */
import { hits, pBetter } from './paired';

const outcomes = (wins: number, losses: number, ties: number): [Uint8Array, Uint8Array] => {
  const a = [...Array(wins).fill(1), ...Array(losses).fill(0), ...Array(ties).fill(1)];
  const b = [...Array(wins).fill(0), ...Array(losses).fill(1), ...Array(ties).fill(1)];
  return [Uint8Array.from(a), Uint8Array.from(b)];
};

test('P(X >= wins), X ~ Binomial(wins + losses, 1/2); ties (both right) do not count', () => {
  expect(pBetter(...outcomes(10, 0, 7))).toBeCloseTo(1 / 1024, 15);
  // C(10,5..10) = 252 + 210 + 120 + 45 + 10 + 1 = 638
  expect(pBetter(...outcomes(5, 5, 3))).toBeCloseTo(638 / 1024, 15);
  // C(10,0..10) = 1024: A never won
  expect(pBetter(...outcomes(0, 10, 0))).toBeCloseTo(1, 15);
  expect(pBetter(...outcomes(0, 0, 9))).toBe(1);
  // Large n stays finite: 600 wins of 1000 discordant pairs is far beyond chance.
  expect(pBetter(...outcomes(600, 400, 0))).toBeLessThan(1e-9);
  expect(pBetter(...outcomes(400, 600, 0))).toBeGreaterThan(1 - 1e-9);
});

test('hits: argmax (first wins ties) against labels', () => {
  expect(Array.from(hits([0, 2, 1, 5, 5, 0], [1n, 0n], 3))).toEqual([1, 1]);
  expect(Array.from(hits([0, 2, 1, 5, 5, 0], [2, 1], 3))).toEqual([0, 0]);
});
