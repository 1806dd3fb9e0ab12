/**
 * Checked readers for commander's raw flag values, shared by every command's
 * parse step, so the same kind of flag is read and refused the same way.
 */
import { UsageError } from '../errors';

/** A whole number ≥ `min`, written as plain digits. */
export function wholeNumber(v: unknown, flag: string, min = 0): number {
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UsageError(`${flag} must be a whole number${min > 0 ? ` ≥ ${min}` : ''}, got '${s}'`);
  return Number(s);
}

/** Any finite number. */
export function finiteNumber(v: unknown, flag: string): number {
  const s = String(v);
  const x = Number(s);
  if (s.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${flag} must be a number, got '${s}'`);
  return x;
}

export function oneOf<T extends string>(v: unknown, allowed: readonly T[], flag: string): T {
  const s = String(v);
  if (!allowed.includes(s as T)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got '${s}'`);
  return s as T;
}

export function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** `--op-types Conv, MatMul` → ['Conv', 'MatMul']; undefined when the flag is absent. */
export function commaList(v: unknown): string[] | undefined {
  return v === undefined ? undefined : String(v).split(',').map((s) => s.trim()).filter(Boolean);
}

/** A variadic flag (`--exclude a b`) as strings; [] when absent. */
export function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}
