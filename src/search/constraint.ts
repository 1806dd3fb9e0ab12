/**
 * The constraint of a search: exactly one eval budget (src/eval/budgets.ts),
 * read back from each trial's EvalReport as a value and a slack, so greedy,
 * evolve and the report compare plans the same way the eval gate judges them.
 */
import { UsageError } from '../errors';
import { BUDGET_SPECS, type BudgetSpec } from '../eval/budgets';
import type { Budgets, EvalReport } from '../eval/types';

/** The budgets a search can be held to: those measured on the data, not size or latency (which the search minimises). */
export const CONSTRAINT_KEYS: readonly (keyof Budgets)[] = ['maxAccuracyDrop', 'minAgreement', 'maxPplRatio', 'minSqnr'];

export interface Constraint {
  spec: BudgetSpec;
  limit: number;
}

export function constraintOf(budgets: Budgets): Constraint {
  const given = BUDGET_SPECS.filter((s) => budgets[s.key] !== undefined);
  const flags = CONSTRAINT_KEYS.map((k) => `--${BUDGET_SPECS.find((s) => s.key === k)!.flag}`).join(', ');
  if (given.length !== 1 || !CONSTRAINT_KEYS.includes(given[0].key)) {
    throw new UsageError(`mc tune needs exactly one constraint: one of ${flags}${given.length ? ` (got ${given.map((s) => `--${s.flag}`).join(', ')})` : ''}`);
  }
  return { spec: given[0], limit: budgets[given[0].key]! };
}

/** The constraint's value in `report` (null when it is unbounded, e.g. identical outputs for min-sqnr). */
export function valueOf(c: Constraint, report: EvalReport): number | null {
  const b = report.budgets.find((x) => x.name === c.spec.flag);
  if (!b) throw new Error(`internal: the evaluator did not check --${c.spec.flag}`);
  return b.value;
}

/** How far inside the limit `value` is: ≥ 0 meets it, negative misses it by that much (in the budget's unit). */
export function slackOf(c: Constraint, value: number | null): number {
  if (value === null) return c.spec.bound === 'min' ? Number.MAX_VALUE : -Number.MAX_VALUE;
  return c.spec.bound === 'max' ? c.limit - value : value - c.limit;
}

/** The value as a cost to minimise (the Pareto axis): the value for a max- budget, its negation for a min- budget. */
export function costOf(c: Constraint, value: number | null): number {
  if (value === null) return c.spec.bound === 'min' ? -Number.MAX_VALUE : Number.MAX_VALUE;
  return c.spec.bound === 'max' ? value : -value;
}
