/**
 * The back-off plan of the output check (verify-outputs.ts): which weights
 * move up their ladder, in what order, and how far to go before measuring.
 * Pure arithmetic over measured figures; the runs are the caller's.
 *
 * Model: to first order the output error is linear in the weight errors and
 * errors of different weights are uncorrelated, so the output noise energy
 * adds over weights and scales with each weight's own noise energy:
 *   N_o = f_o · Σ_w a_o(w) · r_w,   r_w = 10^(−(S_w(rung) − S_w(first))/10), 0 in float,
 * where a_o(w) is the measured noise on output o with w alone quantized in its
 * first form, S the weight SQNR, and f_o = measured / Σ a_o(w)·r_w corrects for
 * what the first-order model misses (errors that compound through the layers).
 * f_o is re-fitted after every measurement.
 *
 * Moves are ordered greedily: each next move is the one rung up, for some
 * weight, that removes the most predicted noise relative to each output's
 * budget (the largest over outputs). So a weight that dominates climbs its
 * whole ladder before a harmless one takes its first step.
 */

export interface BackoffFigures {
  weights: readonly string[];
  /** Outputs that carry a bound. */
  outputs: readonly string[];
  /** a_o(w): output noise energy (Σ err²) on output o with weight w alone quantized. */
  alone: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Weight SQNR (dB) of each weight in its first form. */
  first: ReadonlyMap<string, number>;
  /** Weight SQNR (dB) of each weight at rung r of the ladder (Infinity in float). */
  rungs: readonly ReadonlyMap<string, number>[];
  /** Output noise energy each output may have: Σ ref² · 10^(−bound/10), Infinity when unbounded. */
  budget: ReadonlyMap<string, number>;
}

export interface Move {
  weight: string;
  /** The rung the weight takes. */
  rung: number;
}

export class BackoffPlan {
  readonly moves: Move[];
  private readonly factor = new Map<string, number>();

  constructor(private readonly f: BackoffFigures) {
    this.moves = greedyMoves(f);
    for (const o of f.outputs) this.factor.set(o, 1);
  }

  /** Each weight's rung after the first k moves (weights not moved are absent). */
  rungsAfter(k: number): Map<string, number> {
    const at = new Map<string, number>();
    for (let i = 0; i < k; i++) at.set(this.moves[i].weight, this.moves[i].rung);
    return at;
  }

  /** Σ_w a_o(w) · r_w after k moves, per output (without f_o). */
  private firstOrder(k: number): Map<string, number> {
    const at = this.rungsAfter(k);
    const p = new Map<string, number>();
    for (const o of this.f.outputs) {
      let n = 0;
      for (const w of this.f.weights) n += this.f.alone.get(w)!.get(o)! * noiseRatio(this.f, w, at.get(w));
      p.set(o, n);
    }
    return p;
  }

  /** Predicted output noise energy after k moves. */
  predicted(k: number): Map<string, number> {
    const p = this.firstOrder(k);
    for (const [o, n] of p) p.set(o, n * this.factor.get(o)!);
    return p;
  }

  /** Re-fits f_o from the noise measured after k moves. */
  fit(measured: ReadonlyMap<string, number>, k: number): void {
    const raw = this.firstOrder(k);
    for (const o of this.f.outputs) {
      const r = raw.get(o)!;
      const n = measured.get(o)!;
      // Keep the old factor where the model predicts no noise at all (nothing to scale).
      if (r > 0 && Number.isFinite(n)) this.factor.set(o, Math.max(n / r, 1e-3));
    }
  }

  /** The fewest moves, more than k, predicted to meet every budget (all moves if none is). */
  next(k: number): number {
    for (let j = k + 1; j <= this.moves.length; j++) {
      const p = this.predicted(j);
      if (this.f.outputs.every((o) => p.get(o)! <= this.f.budget.get(o)!)) return j;
    }
    return this.moves.length;
  }
}

/** r_w: the weight's noise energy at `rung` relative to its first form (0 in float). */
function noiseRatio(f: BackoffFigures, w: string, rung: number | undefined): number {
  if (rung === undefined) return 1;
  const s = f.rungs[rung].get(w)!;
  return s === Infinity ? 0 : 10 ** (-(s - f.first.get(w)!) / 10);
}

/** The next rung above `from` (−1: the first form) with a better weight SQNR, or undefined. */
function nextRung(f: BackoffFigures, w: string, from: number): number | undefined {
  const here = from < 0 ? f.first.get(w)! : f.rungs[from].get(w)!;
  for (let r = from + 1; r < f.rungs.length; r++) if (f.rungs[r].get(w)! > here) return r;
  return undefined;
}

function greedyMoves(f: BackoffFigures): Move[] {
  const at = new Map<string, number>(f.weights.map((w) => [w, -1]));
  const gain = (w: string, to: number): number => {
    const from = at.get(w)!;
    const d = noiseRatio(f, w, from < 0 ? undefined : from) - noiseRatio(f, w, to);
    let g = 0;
    for (const o of f.outputs) {
      const b = f.budget.get(o)!;
      const a = f.alone.get(w)!.get(o)! * d;
      g = Math.max(g, b === Infinity || b === 0 ? a : a / b);
    }
    return g;
  };
  const moves: Move[] = [];
  for (;;) {
    let best: Move | undefined;
    let bestGain = -Infinity;
    for (const w of f.weights) {
      const r = nextRung(f, w, at.get(w)!);
      if (r === undefined) continue;
      const g = gain(w, r);
      if (g > bestGain || (g === bestGain && best !== undefined && w < best.weight)) {
        best = { weight: w, rung: r };
        bestGain = g;
      }
    }
    if (!best) return moves;
    moves.push(best);
    at.set(best.weight, best.rung);
  }
}
