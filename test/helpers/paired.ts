/**
 * Paired comparison of two classifiers on the same samples: the one-sided exact McNemar test.
 * Used where a test states that one setting should beat (or not lose to) another, instead of
 * a margin fitted to the fixtures.
 */

/** Per-sample top-1 hits (1 right, 0 wrong) of logits [n, classes] against integer labels. */
export function hits(logits: ArrayLike<number>, labels: ArrayLike<bigint | number>, classes: number): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    if (BigInt(best) === BigInt(labels[i])) out[i] = 1;
  }
  return out;
}

/**
 * One-sided exact McNemar test: were A and B equally accurate, the probability that A wins
 * at least as many of the samples they disagree on as it did (X ~ Binomial(wins + losses, 1/2),
 * P(X >= wins)). Small: A is better beyond chance. 1 when they never disagree.
 */
export function pBetter(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`pBetter: ${a.length} vs ${b.length} samples`);
  let wins = 0;
  let losses = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) wins++;
    else if (!a[i] && b[i]) losses++;
  }
  const n = wins + losses;
  let p = 0;
  let logChoose = 0; // log C(n, k), from k = 0
  for (let k = 0; k <= n; k++) {
    if (k > 0) logChoose += Math.log((n - k + 1) / k);
    if (k >= wins) p += Math.exp(logChoose - n * Math.LN2);
  }
  return Math.min(1, p);
}

/** The significance level of the paired claims in the tests, fixed before measuring. */
export const ALPHA = 0.01;
