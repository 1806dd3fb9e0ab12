/**
 * A small validator for the JSON Schema subset docs/eval.schema.json uses:
 * type (string or list), const, enum, required, properties,
 * additionalProperties (schema), items, maxItems, minimum, maximum, oneOf, $ref
 * to "#/$defs/...". Returns the list of violations with JSON paths.
 */
export type Schema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  oneOf?: Schema[];
  $ref?: string;
  $defs?: Record<string, Schema>;
  [key: string]: unknown;
};

const KNOWN = new Set(['type', 'const', 'enum', 'required', 'properties', 'additionalProperties', 'items', 'maxItems',
  'minimum', 'maximum', 'oneOf', '$ref', '$defs', '$schema', '$id', 'title', 'description']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

export function validate(value: unknown, schema: Schema, root: Schema = schema, at = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) return [`${at}: schema keyword '${k}' not supported by the test validator`];
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/\$defs\//, '');
    const target = root.$defs?.[name];
    if (!target) return [`${at}: unresolved $ref ${schema.$ref}`];
    return validate(value, target, root, at);
  }
  const errors: string[] = [];
  if (schema.oneOf) {
    const ok = schema.oneOf.filter((s) => validate(value, s, root, at).length === 0).length;
    if (ok !== 1) errors.push(`${at}: matches ${ok} of oneOf's ${schema.oneOf.length} schemas`);
    return errors;
  }
  if (schema.const !== undefined && value !== schema.const) errors.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(value, t))) return [...errors, `${at}: ${typeOf(value)} is not ${types.join('|')}`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: ${value} < minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: ${value} > maximum ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...validate(v, schema.items!, root, `${at}[${i}]`)));
  } else if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${at}: missing required '${r}'`);
    for (const [k, v] of Object.entries(obj)) {
      const p = schema.properties?.[k];
      if (p) errors.push(...validate(v, p, root, `${at}.${k}`));
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(v, schema.additionalProperties, root, `${at}.${k}`));
    }
  }
  return errors;
}
