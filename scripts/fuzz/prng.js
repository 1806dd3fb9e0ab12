'use strict';
/**
 * Deterministic randomness for the fuzzer. Every case has its own 32-bit seed,
 * derived from the run seed, the parser name and the case index, so one case
 * can be replayed alone (`--replay parser:caseSeed`) without running the others.
 */

/** FNV-1a over a string, as an unsigned 32-bit integer. */
function hash32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function caseSeed(runSeed, parser, index) {
  return hash32(`${runSeed}:${parser}:${index}`);
}

/** mulberry32 (the same generator as src/util/prng.ts), wrapped with the helpers mutators need. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    /** Integer in [0, n). */
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
    /** Sizes skewed towards small values: most mutations should stay near the seed. */
    small: (n) => Math.floor(n * next() ** 3),
  };
  return r;
}

module.exports = { hash32, caseSeed, rng };
