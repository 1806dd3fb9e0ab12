/**
 * Reads a recipe (YAML, or JSON, which YAML reads too) into a Plan. The
 * published JSON Schema (docs/recipe.schema.json, checked by ajv) refuses
 * unknown keys and wrong types; the yaml Document keeps each node's source
 * range, so every error names the file, the line and the key:
 *   mc.yaml:7: steps[1].quantize: unknown key 'blok-size' (did you mean 'block-size'?)
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { InputError, McError } from '../errors';
import { BUDGET_SPECS } from '../eval/budgets';
import type { Budgets } from '../eval/types';
import { NestedKeyError, pathFrom, stepFromKeys, type Keys } from './keys';
import { checkPattern } from './select';
import type { Plan, PlanEval, PlanStep, Selection, StepSource } from './types';

/** A recipe that cannot be read: one line, `file:line: key: what`. Exit 2. */
export class RecipeError extends InputError {
  constructor(readonly where: string, readonly key: string, what: string) {
    super(`${where}: ${key ? `${key}${what.startsWith(' ') ? what : `: ${what}`}` : what.trimStart()}`);
  }
}

/** The recipe's JSON Schema, as published in docs/ (two levels above both src/plan and dist/plan). */
export const SCHEMA_PATH = path.join(__dirname, '..', '..', 'docs', 'recipe.schema.json');

let validator: ValidateFunction | undefined;
function validate(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true, verbose: true, strict: true }).compile(JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8')));
  return validator;
}

/** Reads `file`; paths inside it are relative to its folder. */
export function readRecipe(file: string): Plan {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read the recipe: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
  return parseRecipe(text, file, path.dirname(file));
}

/** Parses recipe text; `file` names it in errors, `base` is the folder its paths are relative to. */
export function parseRecipe(text: string, file: string, base: string): Plan {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0].line ?? lines.linePos(e.pos[0]).line;
    throw new RecipeError(`${file}:${line}`, '', `YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const at = (p: readonly (string | number)[], key?: string): string => `${file}:${lineOf(doc, lines, p, key)}`;
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // yaml throws ReferenceError for an unresolved alias and for alias expansion past its limit (a "billion laughs" recipe).
    throw new RecipeError(`${file}:1`, '', `YAML: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
  }
  if (data === null || data === undefined) throw new RecipeError(`${file}:1`, '', 'the recipe is empty (it needs steps:)');
  const check = validate();
  if (!check(data)) {
    // An unknown key explains the errors it causes (a misspelt required key is also 'missing'): name it first.
    // A value with alternatives (lr: a number or find) is explained by its oneOf, not by its first branch.
    const err = check.errors!.find((e) => e.keyword === 'additionalProperties') ?? check.errors!.find((e) => e.keyword === 'oneOf') ?? check.errors![0];
    const p = pointer(err.instancePath);
    const key = err.keyword === 'additionalProperties' ? (err.params as { additionalProperty: string }).additionalProperty : undefined;
    throw new RecipeError(at(p, key), display(p) || 'recipe', describe(err));
  }
  const r = data as { model?: string; steps: Keys[]; eval?: Keys };
  const steps: PlanStep[] = [];
  const sources: StepSource[] = [];
  r.steps.forEach((raw, i) => {
    const kinds = (['prune', 'finetune', 'quantize'] as const).filter((k) => raw[k] !== undefined);
    const stepKey = `steps[${i}]`;
    if (kinds.length !== 1) throw new RecipeError(at(['steps', i]), stepKey, kinds.length ? `has both ${kinds[0]}: and ${kinds[1]}:; give each its own step` : 'needs prune:, finetune: or quantize:');
    const kind = kinds[0];
    const select: Selection = {
      layers: raw.layers as string[] | undefined,
      exclude: (raw.exclude as string[] | undefined) ?? [],
      allowEmpty: raw['allow-empty'] === true,
    };
    for (const list of ['layers', 'exclude'] as const) {
      (select[list] ?? []).forEach((pat, j) => {
        const why = checkPattern(pat);
        if (why) throw new RecipeError(at(['steps', i, list, j]), `${stepKey}.${list}[${j}]`, why);
      });
    }
    const key = `${stepKey}.${kind}`;
    let step: PlanStep;
    try {
      step = stepFromKeys(kind, raw[kind] as Keys, select, base);
    } catch (e) {
      if (!(e instanceof McError)) throw e;
      // The passes' resolvers speak in flags (--block-size); a recipe spells them without dashes.
      const sub = e instanceof NestedKeyError ? e.at : [];
      throw new RecipeError(at(['steps', i, kind, ...sub]), [key, ...sub].join('.'), e.message.replace(/--([a-z0-9-]+)/g, '$1'));
    }
    steps.push(step);
    const lineList = (list: 'layers' | 'exclude'): string[] | undefined => select[list] && (select[list] ?? []).map((_, j) => at(['steps', i, list, j]));
    sources.push({ where: at(['steps', i, kind]), key, layersAt: lineList('layers'), excludeAt: select.exclude.length ? lineList('exclude') : undefined });
  });
  return {
    model: r.model === undefined ? undefined : pathFrom(base, r.model),
    steps, sources, baseDir: base,
    eval: r.eval ? evalOf(r.eval, base) : undefined,
  };
}

function evalOf(e: Keys, base: string): PlanEval {
  const budgets: Budgets = {};
  const given = (e.budgets ?? {}) as Keys;
  for (const spec of BUDGET_SPECS) if (given[spec.flag] !== undefined) budgets[spec.key] = given[spec.flag] as number;
  return { data: pathFrom(base, String(e.data)), labels: e.labels === undefined ? undefined : pathFrom(base, String(e.labels)), budgets };
}

/** '/steps/1/quantize' → ['steps', 1, 'quantize']. */
function pointer(p: string): (string | number)[] {
  if (p === '') return [];
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** ['steps', 1, 'quantize', 'bits'] → 'steps[1].quantize.bits'. */
function display(p: readonly (string | number)[]): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i ? '.' : ''}${s}`)).join('');
}

/** The 1-based line of the node at `p` (or of its key `key`), falling back to the nearest enclosing node. */
function lineOf(doc: Document, lines: LineCounter, p: readonly (string | number)[], key?: string): number {
  let node: unknown = doc.contents;
  let best = (node as YamlNode | null)?.range?.[0] ?? 0;
  const steps = key === undefined ? p : [...p, key];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(s));
      if (!pair) break;
      const k = pair.key as YamlNode;
      best = k.range?.[0] ?? best;
      if (i === steps.length - 1 && key !== undefined) break;
      node = pair.value;
      // A value on the key's own line reads best as that line; a nested block starts on the next.
      if (i === steps.length - 1 && node && (node as YamlNode).range) best = (node as YamlNode).range![0];
    } else if (isSeq(node) && typeof s === 'number' && node.items[s]) {
      node = node.items[s];
      best = (node as YamlNode).range?.[0] ?? best;
    } else {
      break;
    }
  }
  return lines.linePos(best).line;
}

function describe(e: ErrorObject): string {
  const got = ` got ${JSON.stringify(e.data)}`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const k = String(p.additionalProperty);
      return `unknown key '${k}'${hint(k, Object.keys((e.parentSchema as { properties?: object }).properties ?? {}))}`;
    }
    case 'required': return `missing key '${String(p.missingProperty)}'`;
    case 'enum': return ` must be ${orList((p.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))))},${got}`;
    case 'type': return ` must be ${article(String(p.type))},${got}`;
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return ` must be ${String(p.comparison)} ${String(p.limit)},${got}`;
    case 'pattern': return ` must look like 2:4,${got}`;
    case 'oneOf': return ` must be ${orList((e.schema as { type?: string; const?: unknown }[]).map((b) => (b.const !== undefined ? String(b.const) : article(String(b.type)))))},${got}`;
    case 'minItems': return ' must not be an empty list';
    case 'minLength': return ' must not be empty';
    default: return ` ${e.message ?? 'is not valid'}`;
  }
}

function orList(xs: readonly string[]): string {
  return xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

function article(type: string): string {
  const t = type === 'integer' ? 'whole number' : type === 'array' ? 'list' : type === 'object' ? 'map' : type;
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

const STEP_KEYS = ['layers', 'exclude', 'allow-empty'];

/** ' (did you mean ...?)' for the nearest valid key, or where a misplaced key belongs. */
function hint(key: string, valid: readonly string[]): string {
  if (STEP_KEYS.includes(key) && !valid.includes(key)) return ` (${key} sits next to prune:/quantize:, at the step level)`;
  let best: string | undefined;
  let bestD = Infinity;
  for (const v of valid) {
    const d = editDistance(key, v);
    if (d < bestD) { best = v; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean '${best}'?)` : ` (valid keys: ${valid.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
