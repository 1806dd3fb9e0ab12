/**
 * End-to-end helper: runs the BUILT `mc` binary (node bin/mc ...) in a child
 * process. The tests assume `npm run build` ran (npm ci runs it via `prepare`);
 * they fail with a clear message when dist/ is missing or older than src/.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'mc');

export interface McRun {
  code: number;
  stdout: string;
  stderr: string;
}

let checked = false;

/**
 * The sources the end-to-end tests exercise. A stale build of these would make
 * the tests check old code; other folders are not watched, so helpers editing
 * them in parallel do not trip the check.
 */
const WATCHED = ['cli', 'formats', 'inspect', 'ir', 'util', 'errors.ts', 'version.ts', 'api.ts'];

/** Throws when dist/ is missing, or when a watched src/*.ts is newer than its compiled .js. */
export function assertBuilt(): void {
  if (checked) return;
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` before the end-to-end tests`);
  const stale: string[] = [];
  const walk = (p: string): void => {
    if (fs.statSync(p).isDirectory()) {
      for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    } else if (p.endsWith('.ts') && !p.endsWith('.d.ts') && !p.endsWith('.test.ts')) {
      const js = path.join(ROOT, 'dist', path.relative(path.join(ROOT, 'src'), p)).replace(/\.ts$/, '.js');
      if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(p).mtimeMs) stale.push(path.relative(ROOT, p));
    }
  };
  for (const w of WATCHED) if (fs.existsSync(path.join(ROOT, 'src', w))) walk(path.join(ROOT, 'src', w));
  if (stale.length) throw new Error(`dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}: run \`npm run build\``);
  checked = true;
}

/** Runs `mc args...` with `cwd` (default: a fresh temp folder) and NO_COLOR set, so output is plain text. */
export function runMc(args: readonly string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): McRun {
  assertBuilt();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mc-cli-${tag}-`));
}

/** Every path under `dir`, relative, sorted (to prove no temp files were left behind). */
export function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}
