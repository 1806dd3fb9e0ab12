/**
 * The layering rules of src/, read from the import graph (every import/export
 * ... from, require() and import() in src/**.ts, resolved to files):
 *  (a) no file under src/passes/ imports fs or onnxruntime-node, and none
 *      reaches onnxruntime-node through other files: passes are handed what
 *      they need (src/passes/pass.ts);
 *  (b) src/calibrate/ and src/passes/ do not both reach each other (today
 *      calibrate uses the quantizer's parameter rule, so passes must not reach
 *      calibrate).
 * Type-only imports (`import type`, `export type`) load nothing at run time:
 * they count for (b), the coupling of the two folders, but not for reaching a
 * module in (a). A failure prints the chain of imports that breaks the rule.
 */
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.resolve(__dirname, '..', 'src');

interface Edge { to: string; typeOnly: boolean }

/** Every .ts file under `dir`, as paths relative to src/. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path.relative(SRC, p));
  }
  return out;
}

/** The specifiers a file imports, with whether each import is type-only. */
export function importsOf(text: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const from = /\b(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (let m; (m = from.exec(code));) {
    const names = m[3].replace(/^\{|\}$/g, '');
    // `import { type A, type B }`: every name type-only
    const allTypeNames = /^\s*\{/.test(m[3]) && names.split(',').filter((n) => n.trim()).every((n) => /^\s*type\s/.test(n));
    out.push({ spec: m[4], typeOnly: m[2] !== undefined || allTypeNames });
  }
  const bare = /\bimport\s*['"]([^'"]+)['"]/g;
  for (let m; (m = bare.exec(code));) out.push({ spec: m[1], typeOnly: false });
  const call = /\b(?:require|import)\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m; (m = call.exec(code));) out.push({ spec: m[1], typeOnly: false });
  return out;
}

/** A relative specifier as a file under src/ (x.ts or x/index.ts); a package name as itself. */
function resolve(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec.startsWith('node:') ? spec.slice(5) : spec;
  const base = path.join(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, 'index.ts'), base]) if (fs.existsSync(path.join(SRC, c)) && c.endsWith('.ts')) return path.normalize(c);
  throw new Error(`${from}: cannot resolve '${spec}'`);
}

export function importGraph(): Map<string, Edge[]> {
  const g = new Map<string, Edge[]>();
  for (const f of files(SRC)) {
    const text = fs.readFileSync(path.join(SRC, f), 'utf8');
    g.set(f, importsOf(text).map((i) => ({ to: resolve(f, i.spec), typeOnly: i.typeOnly })));
  }
  return g;
}

/** The shortest import chain from `start` to a node `hit` accepts (breadth first), or undefined. */
function chain(g: Map<string, Edge[]>, start: string, hit: (n: string) => boolean, withTypes: boolean): string[] | undefined {
  const parent = new Map<string, string | null>([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const n = queue.shift()!;
    if (n !== start && hit(n)) {
      const path: string[] = [];
      for (let p: string | null = n; p !== null; p = parent.get(p)!) path.unshift(p);
      return path;
    }
    for (const e of g.get(n) ?? []) {
      if (!withTypes && e.typeOnly) continue;
      if (!parent.has(e.to)) { parent.set(e.to, n); queue.push(e.to); }
    }
  }
  return undefined;
}

const inDir = (dir: string) => (f: string): boolean => f.startsWith(`${dir}${path.sep}`);
const FS = new Set(['fs', 'fs/promises']);

describe('layering of src/', () => {
  const g = importGraph();
  const passes = [...g.keys()].filter(inDir('passes'));
  const calibrate = [...g.keys()].filter(inDir('calibrate'));

  test('the graph is read: passes and calibrate files, and imports between them, are found', () => {
    expect(passes.length).toBeGreaterThan(20);
    expect(calibrate.length).toBeGreaterThan(5);
    // calibrate uses the quantizer's scale rule (mse.ts): the one allowed direction
    expect(g.get(path.join('calibrate', 'mse.ts'))!.map((e) => e.to)).toContain(path.join('passes', 'quantize', 'params.ts'));
  });

  test('no file under src/passes/ imports fs or onnxruntime-node, or reaches onnxruntime-node', () => {
    const bad: string[] = [];
    for (const f of passes) {
      for (const e of g.get(f)!) if (FS.has(e.to) || e.to === 'onnxruntime-node') bad.push(`${f} imports ${e.to}`);
      const c = chain(g, f, (n) => n === 'onnxruntime-node', false);
      if (c) bad.push(`${f} reaches onnxruntime-node: ${c.join(' → ')}`);
    }
    expect(bad).toEqual([]);
  });

  test('src/calibrate and src/passes do not import each other both ways (no cycle)', () => {
    const down = calibrate.map((f) => chain(g, f, inDir('passes'), true)).find((c) => c);
    const up = passes.map((f) => chain(g, f, inDir('calibrate'), true)).find((c) => c);
    const cycle = down && up ? [`calibrate → passes: ${down.join(' → ')}`, `passes → calibrate: ${up.join(' → ')}`] : [];
    expect(cycle).toEqual([]);
  });
});
