'use strict';
/**
 * Checks the claim in src/passes/quantize/weights.ts that, for float32 v and
 * a float32 scale s (normal, as safeScale guarantees), the quantize loop's
 *   rint(clamp(fround(v · (1/s))))      (1/s in float64)
 * equals the reference
 *   rint(clamp(fround(v / s)))
 * and that fround(v · (1/s)) = fround(v / s) whenever the quotient is a normal
 * float32. Three kinds of cases:
 *  - random v, s over many binades;
 *  - adversarial: v = the float32 nearest to m · s, and its neighbours, for
 *    random float32 rounding midpoints m (where a wrong rounding would show);
 *  - exact ties of the integer rounding (v = (j + 0.5) · s).
 * Usage: node bench/quantize-exactness.js [millions of cases, default 20]
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const M = 6755399441055744;

let seed = 12345;
function rnd() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function fromBits(b) { u32[0] = b >>> 0; return f32[0]; }
function bitsOf(x) { f32[0] = x; return u32[0]; }
/** A random normal float32 with exponent in [lo, hi]. */
function randFloat(lo, hi) {
  const e = lo + Math.floor(rnd() * (hi - lo + 1));
  const mant = Math.floor(rnd() * 0x800000);
  const sign = rnd() < 0.5 ? 0x80000000 : 0;
  return fromBits(sign | ((e + 127) << 23) | mant);
}
const FLT_MIN = 1.1754943508222875e-38;

let checked = 0;
let quotientMismatch = 0;
let qMismatch = 0;
function check(v, s, qmax) {
  checked++;
  const inv = 1 / s;
  const a = Math.fround(v / s);
  const b = Math.fround(v * inv);
  if (a !== b && Math.abs(a) >= FLT_MIN) {
    quotientMismatch++;
    if (quotientMismatch < 5) console.log(`quotient differs: v=${v} s=${s} div=${a} mul=${b}`);
  }
  const qa = (a < -qmax ? -qmax : a > qmax ? qmax : a) + M - M;
  const qb = (b < -qmax ? -qmax : b > qmax ? qmax : b) + M - M;
  if (qa !== qb) {
    qMismatch++;
    if (qMismatch < 5) console.log(`q differs: v=${v} s=${s} ${qa} vs ${qb}`);
  }
}

const millions = Number(process.argv[2] ?? 20);
const n = Math.round(millions * 1e6 / 6);
const t0 = Date.now();
for (let i = 0; i < n; i++) {
  // Random pairs across the whole normal range of s (safeScale never returns less than FLT_MIN).
  const s = randFloat(-126, 120);
  check(randFloat(-149 + 24, 127), s, 127);
  // A random float32 midpoint m (25-bit odd significand) with a normal s; v nearest to m · s and its neighbours.
  const e = -20 + Math.floor(rnd() * 30);
  const mid = (0x1000000 + 2 * Math.floor(rnd() * 0x800000) + 1) * 2 ** (e - 24);
  const s2 = randFloat(-100, 100);
  const v0 = Math.fround(mid * s2);
  if (Number.isFinite(v0) && v0 !== 0) {
    const b0 = bitsOf(v0);
    check(fromBits(b0 - 1), s2, 255);
    check(v0, s2, 255);
    check(fromBits(b0 + 1), s2, 255);
  }
  // Integer-rounding ties: v = (j + 0.5) · s exactly when representable.
  const j = Math.floor(rnd() * 254) - 127;
  const s3 = randFloat(-60, 0);
  const v3 = Math.fround((j + 0.5) * s3);
  check(v3, s3, 127);
}
console.log(`${checked} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s: fround(v·(1/s)) ≠ fround(v/s) (normal results) ${quotientMismatch}, rounded q differs ${qMismatch}`);
process.exit(quotientMismatch || qMismatch ? 1 : 0);
