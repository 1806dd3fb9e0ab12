/**
 * The report of a search as plain data: what `--json` prints and what the
 * Markdown and HTML reports (render-markdown.ts, render-html.ts) draw. Every
 * number in them comes from here, so the three agree.
 */
import { bytesOf } from './measure';
import type { TuneRun } from './tune';
import type { TrialRecord, TuneResult } from './types';

export interface PlanRow {
  layer: string;
  /** Per dimension: the rung's value ('int4', 0.5, 'float', 0). */
  choice: Record<string, string | number>;
}

export interface TuneReport extends Omit<TuneResult, 'trials'> {
  trials: TrialRecord[];
  /** The size measure of each trial, in trial order (the scatter's x). */
  sizes: number[];
  /** The chosen plan, one row per layer (every layer, its safest rung included). */
  plan: PlanRow[];
  /** How far inside the constraint the answer is (negative: missed by that much). */
  slack: number | null;
  output: string | null;
  recipe: string | null;
  sha256: string | null;
  /**
   * With --max-accuracy-drop on top-1: the answer's sampling noise, about √d/n (in points) for d of
   * n samples whose class differs from the float model's (the standard error of a paired
   * difference of top-1 is at most that). A drop smaller than this is not known to be a drop.
   */
  noise: { points: number; disagree: number; samples: number } | null;
}

export function sizeOf(r: TuneResult, t: TrialRecord): number {
  return bytesOf(r.sizeMeasure, t);
}

export function tuneReport(run: TuneRun, written: { output: string; recipe: string | null; sha256: string | null } | null): TuneReport {
  const { float: _float, ...result } = run;
  const plan: PlanRow[] = run.bestAssignment
    ? run.layers.map((layer, l) => ({
      layer,
      choice: Object.fromEntries(run.dimensions.map((d, i) => [d.name, d.rungs[run.bestAssignment![l][i]]])),
    }))
    : [];
  return {
    ...result,
    sizes: run.trials.map((t) => sizeOf(run, t)),
    plan,
    slack: run.best?.slack ?? null,
    output: written?.output ?? null,
    recipe: written?.recipe ?? null,
    sha256: written?.sha256 ?? null,
    noise: samplingNoise(run),
  };
}

function samplingNoise(r: TuneResult): TuneReport['noise'] {
  return r.constraint.name === 'max-accuracy-drop' ? noiseOf(r.best?.disagree) : null;
}

/** √d/n in points for d of n samples whose class changed against float (null without them). */
export function noiseOf(d: { samples: number; of: number } | null | undefined): TuneReport['noise'] {
  return d && d.of ? { points: (100 * Math.sqrt(d.samples)) / d.of, disagree: d.samples, samples: d.of } : null;
}
