/**
 * Which weights each step of a plan takes, decided against the model before
 * any step runs. A pattern is a minimatch glob or a /regex/, matched against
 * the weight's name and the names of the nodes that read it. Steps of one
 * family (prune steps; weight-quantize steps) share the weights:
 *   - a step with `layers` takes what they match, less its `exclude`;
 *   - then each step without `layers`, in order, takes every weight still free,
 *     less its `exclude` (and, for quantize, weights of ops outside its op-types);
 *   - two steps with `layers` that match the same weight are an error, as is a
 *     pattern that matches no weight at all, or (among several steps) a step
 *     left with no weight, unless the step says allow-empty.
 */
import { minimatch } from 'minimatch';
import { UsageError } from '../errors';
import type { Selection, StepSource } from './types';

/** A weight (or, for a static step, a node) a step may take. */
export interface Candidate {
  /** The weight's name (static: the node's name). */
  name: string;
  /** Other names a pattern may match: the reading nodes' names (static: the node's weights). */
  aliases: readonly string[];
  /** Op types that read it (quantize's op-types filter). */
  ops: readonly string[];
}

export interface FamilyStep {
  index: number;
  select: Selection;
  source: StepSource;
  /** Quantize's op-types: a step without layers takes only weights these ops read. */
  opTypes?: readonly string[];
}

function isRegex(p: string): boolean {
  return p.length >= 2 && p.startsWith('/') && p.endsWith('/');
}

/** Why a pattern is not usable (an invalid /regex/), or undefined. */
export function checkPattern(p: string): string | undefined {
  if (!isRegex(p)) return undefined;
  try {
    new RegExp(p.slice(1, -1));
    return undefined;
  } catch (e) {
    return `invalid regular expression ${p}: ${(e as Error).message}`;
  }
}

/** True when every pattern is a glob (the passes' own --exclude can then take them as they are). */
export function allGlobs(patterns: readonly string[]): boolean {
  return patterns.every((p) => !isRegex(p));
}

export function matcher(p: string): (name: string) => boolean {
  if (isRegex(p)) {
    const re = new RegExp(p.slice(1, -1));
    return (name) => re.test(name);
  }
  return (name) => name !== '' && minimatch(name, p, { dot: true });
}

function matchesAny(p: string, c: Candidate): boolean {
  const m = matcher(p);
  return m(c.name) || c.aliases.some(m);
}

/**
 * The candidates each step takes (step index → names, in candidate order). Throws UsageError
 * naming the recipe line and key for a pattern that matches nothing, or two steps with
 * layers that take the same weight.
 */
export function resolveFamily(steps: readonly FamilyStep[], candidates: readonly Candidate[], verb: string): Map<number, string[]> {
  for (const s of steps) checkPatternsMatch(s, candidates);
  const owner = new Map<string, FamilyStep>();
  const out = new Map<number, string[]>(steps.map((s) => [s.index, []]));
  const excluded = (s: FamilyStep, c: Candidate): boolean => s.select.exclude.some((p) => matchesAny(p, c));
  for (const s of steps.filter((x) => x.select.layers)) {
    for (const c of candidates) {
      if (!s.select.layers!.some((p) => matchesAny(p, c)) || excluded(s, c)) continue;
      const other = owner.get(c.name);
      if (other) {
        throw new UsageError(`${s.source.where}: ${s.source.key} and ${other.source.key} (${other.source.where}) both ${verb} '${c.name}'; narrow one step's layers or add exclude`);
      }
      owner.set(c.name, s);
      out.get(s.index)!.push(c.name);
    }
  }
  for (const s of steps.filter((x) => !x.select.layers)) {
    for (const c of candidates) {
      if (owner.has(c.name) || excluded(s, c)) continue;
      if (s.opTypes && !c.ops.some((op) => s.opTypes!.includes(op))) continue;
      owner.set(c.name, s);
      out.get(s.index)!.push(c.name);
    }
  }
  // Among several steps, one left with nothing is a mistake (earlier steps took it all) unless it says so.
  if (steps.length > 1) {
    for (const s of steps) {
      if (out.get(s.index)!.length || s.select.allowEmpty) continue;
      throw new UsageError(`${s.source.where}: ${s.source.key}: takes no weight (the other steps took every one it would); allow-empty: true accepts it`);
    }
  }
  return out;
}

function checkPatternsMatch(s: FamilyStep, candidates: readonly Candidate[]): void {
  if (s.select.allowEmpty) return;
  for (const list of ['layers', 'exclude'] as const) {
    (s.select[list] ?? []).forEach((p, j) => {
      if (candidates.some((c) => matchesAny(p, c))) return;
      const where = s.source[list === 'layers' ? 'layersAt' : 'excludeAt']?.[j] ?? s.source.where;
      const names = candidates.slice(0, 6).map((c) => c.name).join(', ');
      const key = s.source.key.startsWith('--') ? `--${list}` : `${s.source.key.replace(/\.(prune|quantize)$/, '')}.${list}[${j}]`;
      throw new UsageError(`${where}: ${key}: '${p}' matches no weight (${candidates.length} to choose from: ${names}${candidates.length > 6 ? ', …' : ''}); allow-empty: true accepts it`);
    });
  }
}
