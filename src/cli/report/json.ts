import type { EvalReport } from '../../eval';

/**
 * The report as JSON (schema: docs/eval.schema.json). Non-finite numbers have no
 * JSON form; they become null, which the schema documents per field
 * (sqnrDb null = identical outputs).
 */
export function renderJson(r: EvalReport): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}
