/**
 * The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural
 * Networks", 2017; as fastai's lr_find): train for up to `steps` steps while the rate
 * grows exponentially from `start` to `end`, smooth the loss with a bias-corrected
 * exponential moving average (β = 0.98), stop once it exceeds 4× its minimum (the
 * blow-up), and suggest the rate at the steepest descent of the smoothed loss against
 * log(lr) (central differences, numpy.gradient's rule), leaving out the first 10 and last
 * 5 points as fastai v1's `recorder.plot(suggestion=True)` does: early on the bias-corrected
 * average follows single-batch noise, and the last points lead into the blow-up.
 * The caller restores the weights afterwards.
 */
export interface LrFindPoint {
  lr: number;
  loss: number;
  smoothed: number;
}

export interface LrFindResult {
  points: LrFindPoint[];
  /** The suggested rate; null when the curve never descends. */
  lr: number | null;
  /** Index in points of the suggestion. */
  index: number;
  /** Whether the loss blew up before the last step. */
  diverged: boolean;
}

export const LR_FIND = { steps: 100, start: 1e-7, end: 10, beta: 0.98, blowUp: 4, skipStart: 10, skipEnd: 5 } as const;

/** The rate of step i of n, exponentially from start to end. */
export function rangeRate(i: number, n: number, start: number = LR_FIND.start, end: number = LR_FIND.end): number {
  return start * (end / start) ** (n > 1 ? i / (n - 1) : 0);
}

/**
 * Drives the range test: `step(lr)` does one training step at `lr` and returns its loss
 * (NaN allowed: it counts as a blow-up).
 */
export function lrRangeTest(step: (lr: number, i: number) => number, n: number = LR_FIND.steps, start: number = LR_FIND.start, end: number = LR_FIND.end): LrFindResult {
  const points: LrFindPoint[] = [];
  let avg = 0;
  let best = Infinity;
  let diverged = false;
  for (let i = 0; i < n; i++) {
    const lr = rangeRate(i, n, start, end);
    const loss = step(lr, i);
    if (!Number.isFinite(loss)) {
      diverged = true;
      break;
    }
    avg = LR_FIND.beta * avg + (1 - LR_FIND.beta) * loss;
    const smoothed = avg / (1 - LR_FIND.beta ** (i + 1));
    points.push({ lr, loss, smoothed });
    if (i > 0 && smoothed > LR_FIND.blowUp * best) {
      diverged = true;
      break;
    }
    best = Math.min(best, smoothed);
  }
  const { index } = steepest(points);
  return { points, lr: index >= 0 ? points[index].lr : null, index, diverged };
}

/**
 * The index of the most negative d(smoothed)/d(log lr) over points [skipStart, n − skipEnd)
 * (all points when fewer remain), or -1 when nothing descends.
 */
export function steepest(points: readonly LrFindPoint[], skipStart: number = LR_FIND.skipStart, skipEnd: number = LR_FIND.skipEnd): { index: number; slope: number } {
  let index = -1;
  let slope = 0;
  const n = points.length;
  const [from, to] = n - skipStart - skipEnd >= 3 ? [skipStart, n - skipEnd] : [0, n];
  for (let i = from; i < to; i++) {
    const a = points[Math.max(0, i - 1)];
    const b = points[Math.min(n - 1, i + 1)];
    if (a === b) continue;
    const s = (b.smoothed - a.smoothed) / (Math.log(b.lr) - Math.log(a.lr));
    if (s < slope) {
      slope = s;
      index = i;
    }
  }
  return { index, slope };
}

/** The curve as text: one line per point, a bar for the smoothed loss. */
export function renderCurve(r: LrFindResult, width = 40): string {
  if (!r.points.length) return '';
  const lo = Math.min(...r.points.map((p) => p.smoothed));
  const hi = Math.max(...r.points.map((p) => p.smoothed));
  const every = Math.max(1, Math.ceil(r.points.length / 25));
  return r.points.filter((_, i) => i % every === 0 || i === r.index).map((p) => {
    const bar = '#'.repeat(Math.round(((p.smoothed - lo) / Math.max(1e-12, hi - lo)) * width));
    const mark = p === r.points[r.index] ? '  <- steepest' : '';
    return `${p.lr.toExponential(2).padStart(9)}  ${p.smoothed.toFixed(4).padStart(9)}  ${bar}${mark}`;
  }).join('\n') + '\n';
}
