/**
 * Learning-rate schedules: the learning rate for optimizer step `step` (0-based) of
 * `totalSteps`, as pure functions of the step, plus reduce-on-plateau, which also
 * reads the validation metric at each epoch end. Formulas (tested in
 * test/train/schedules.test.ts against these transcriptions):
 *
 *   warmup (constant, step, cosine, plateau): lr = base · (s + 1) / W   for s < W
 *   constant:  lr = base
 *   step:      lr = base · γ^⌊(s − W) / stepSize⌋                 (PyTorch StepLR)
 *   cosine:    lr = base · ½ (1 + cos(π (s − W) / (S − W)))       (Loshchilov & Hutter 2017, SGDR without restarts)
 *   onecycle:  Smith & Topin 2018 as PyTorch's OneCycleLR (anneal 'cos', pct_start 0.3, div 25, final div 1e4):
 *              a = base/25 → base over the first 30% of steps, then base → a/1e4, each half-cosine
 *   plateau:   base · factor^k, k counting epochs whose metric did not improve on the best for
 *              `patience` epochs (Keras ReduceLROnPlateau, min_delta 0, cooldown 0)
 */
export type ScheduleKind = 'constant' | 'step' | 'cosine' | 'onecycle' | 'plateau';
export const SCHEDULES: readonly ScheduleKind[] = ['constant', 'step', 'cosine', 'onecycle', 'plateau'];

export interface ScheduleOptions {
  kind: ScheduleKind;
  baseLr: number;
  totalSteps: number;
  /** Linear warmup steps (onecycle has its own warm phase and ignores this). */
  warmupSteps: number;
  /** step: decay every this many steps (default: a third of the steps after warmup). */
  stepSize?: number;
  /** step: decay factor (default 0.1). */
  gamma?: number;
  /** plateau: epochs without improvement before the rate is cut (default 1), and the cut (default 0.1). */
  patience?: number;
  factor?: number;
}

export interface LrSchedule {
  /** The learning rate for step `step`. */
  at(step: number): number;
  /** plateau: the epoch's metric (higher is better); others ignore it. */
  endEpoch(metric: number): void;
}

export const ONECYCLE = { pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4 } as const;

/** Half-cosine from `start` (pct 0) to `end` (pct 1), PyTorch's _annealing_cos. */
export function annealCos(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}

export function makeSchedule(o: ScheduleOptions): LrSchedule {
  const S = Math.max(1, o.totalSteps);
  const W = o.kind === 'onecycle' ? 0 : Math.min(Math.max(0, Math.floor(o.warmupSteps)), S - 1);
  const base = o.baseLr;
  const warm = (s: number): number | undefined => (s < W ? (base * (s + 1)) / W : undefined);
  switch (o.kind) {
    case 'constant':
      return { at: (s) => warm(s) ?? base, endEpoch: () => {} };
    case 'step': {
      const size = Math.max(1, o.stepSize ?? Math.ceil((S - W) / 3));
      const gamma = o.gamma ?? 0.1;
      return { at: (s) => warm(s) ?? base * gamma ** Math.floor((s - W) / size), endEpoch: () => {} };
    }
    case 'cosine':
      return { at: (s) => warm(s) ?? annealCos(base, 0, Math.min(1, (s - W) / Math.max(1, S - W))), endEpoch: () => {} };
    case 'onecycle': {
      const initial = base / ONECYCLE.divFactor;
      const final = initial / ONECYCLE.finalDivFactor;
      const peak = ONECYCLE.pctStart * S - 1;
      const end = S - 1;
      return {
        at: (s) => (s <= peak
          ? annealCos(initial, base, peak > 0 ? s / peak : 1)
          : annealCos(base, final, Math.min(1, (s - peak) / Math.max(1e-12, end - peak)))),
        endEpoch: () => {},
      };
    }
    case 'plateau': {
      const patience = o.patience ?? 1;
      const factor = o.factor ?? 0.1;
      let best = -Infinity;
      let bad = 0;
      let scale = 1;
      return {
        at: (s) => warm(s) ?? base * scale,
        endEpoch: (metric) => {
          if (metric > best) {
            best = metric;
            bad = 0;
          } else if (++bad >= patience) {
            scale *= factor;
            bad = 0;
          }
        },
      };
    }
  }
}
