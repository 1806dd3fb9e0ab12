import { UsageError } from '../errors';
import type { BudgetResult, Budgets, EvalReport } from './types';

/** What a budget needs measured before it can be checked. */
type Need = 'baseline' | 'labels' | 'data' | 'latency';

export interface BudgetSpec {
  key: keyof Budgets;
  /** CLI flag without leading dashes; also the budget's name in reports. */
  flag: string;
  /** Placeholder in --help. */
  arg: string;
  description: string;
  /** 'max': value ≤ limit passes; 'min': value ≥ limit passes. */
  bound: 'max' | 'min';
  unit: string;
  needs: readonly Need[];
  /** Allowed limit range, inclusive. */
  range: readonly [number, number];
}

/** Every budget, as data: the CLI flags, the checks and the report rows all come from this table. */
export const BUDGET_SPECS: readonly BudgetSpec[] = [
  {
    key: 'maxAccuracyDrop', flag: 'max-accuracy-drop', arg: 'points', bound: 'max', unit: 'points',
    description: 'largest accuracy drop vs the baseline, in percentage points (top-1; for perplexity/mse: percent worse)',
    needs: ['baseline', 'data', 'labels'], range: [-100, Infinity],
  },
  {
    key: 'minAgreement', flag: 'min-agreement', arg: '0..1', bound: 'min', unit: 'fraction',
    description: 'smallest top-1 agreement with the baseline', needs: ['baseline', 'data'], range: [0, 1],
  },
  {
    key: 'minSqnr', flag: 'min-sqnr', arg: 'dB', bound: 'min', unit: 'dB',
    description: 'smallest output SQNR vs the baseline, in dB (worst output)', needs: ['baseline', 'data'], range: [-Infinity, Infinity],
  },
  {
    key: 'maxSizeRatio', flag: 'max-size-ratio', arg: 'r', bound: 'max', unit: 'ratio',
    description: 'largest candidate/baseline size on disk', needs: ['baseline'], range: [0, Infinity],
  },
  {
    key: 'maxLatencyRatio', flag: 'max-latency-ratio', arg: 'r', bound: 'max', unit: 'ratio',
    description: 'largest candidate/baseline median latency', needs: ['baseline', 'latency'], range: [0, Infinity],
  },
  {
    key: 'maxPplRatio', flag: 'max-ppl-ratio', arg: 'r', bound: 'max', unit: 'ratio',
    description: 'largest candidate/baseline perplexity (language models, --metric perplexity)', needs: ['baseline', 'data', 'labels'], range: [0, Infinity],
  },
];

/** Parses a limit given on the command line; one clear line on bad input. */
export function parseBudgetValue(spec: BudgetSpec, raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${spec.flag} needs a number, got '${raw}'`);
  if (v < spec.range[0] || v > spec.range[1]) throw new UsageError(`--${spec.flag} must be within ${spec.range[0]}..${spec.range[1]}, got ${raw}`);
  return v;
}

export interface Available {
  baseline: boolean;
  data: boolean;
  labels: boolean;
  latency: boolean;
}

const NEED_HINT: Record<Need, string> = {
  baseline: '--baseline',
  data: '--data',
  labels: '--labels',
  latency: '--runs above 0',
};

/** Refuses, before any model runs, a budget that could not be measured with the given inputs. */
export function checkBudgetRequirements(budgets: Budgets, have: Available): void {
  for (const spec of BUDGET_SPECS) {
    if (budgets[spec.key] === undefined) continue;
    for (const need of spec.needs) {
      if (!have[need]) throw new UsageError(`--${spec.flag} needs ${NEED_HINT[need]}`);
    }
  }
}

/** The measured value a budget limits; null for +Infinity (SQNR of identical outputs). */
function measured(spec: BudgetSpec, r: EvalReport): number | null {
  const d = r.delta;
  const f = r.candidate.fidelity;
  const missing = (): never => {
    throw new UsageError(`--${spec.flag} cannot be checked: ${spec.needs.map((n) => NEED_HINT[n]).join(', ')} needed`);
  };
  switch (spec.key) {
    case 'maxAccuracyDrop': {
      const metric = r.candidate.accuracy?.metric;
      const v = metric === 'top1' ? d?.accuracyTop1Points
        : metric === 'top5' ? d?.accuracyTop5Points
          : metric === 'perplexity' ? d?.perplexityPercent
            : metric === 'mse' ? d?.msePercent : undefined;
      return v ?? missing();
    }
    case 'minAgreement': {
      if (!f) return missing();
      if (f.top1Agreement === null) throw new UsageError(`--min-agreement needs a score output [N, C]; '${f.outputs[0]?.name}' is not one`);
      return f.top1Agreement;
    }
    case 'minSqnr':
      if (!f) return missing();
      return f.sqnrDb;
    case 'maxSizeRatio':
      return d?.sizeRatio ?? missing();
    case 'maxLatencyRatio':
      return d?.latencyRatio ?? missing();
    case 'maxPplRatio': {
      const metric = r.candidate.accuracy?.metric;
      if (metric !== undefined && metric !== 'perplexity') throw new UsageError(`--max-ppl-ratio needs the perplexity metric; the labels gave ${metric} (pass --metric perplexity for token labels [N, T])`);
      return d?.perplexityRatio ?? missing();
    }
  }
}

/** Checks every given budget against a report. A null value stands for +Infinity. */
export function checkBudgets(report: EvalReport, budgets: Budgets): BudgetResult[] {
  const out: BudgetResult[] = [];
  for (const spec of BUDGET_SPECS) {
    const limit = budgets[spec.key];
    if (limit === undefined) continue;
    const value = measured(spec, report);
    const v = value ?? Infinity;
    const passed = spec.bound === 'max' ? v <= limit : v >= limit;
    out.push({ name: spec.flag, limit, value, passed, unit: spec.unit });
  }
  return out;
}
