/**
 * Every skip goes through test/helpers/require-dep.ts (a loud skip, a failure under CI=true
 * or MC_REQUIRE_<NAME>; or an explicit opt-in). This scans the test sources for jest's own
 * skips (describe.skip, test.skip, it.skip, xit, xdescribe, xtest) anywhere else, which
 * would skip without a word and pass CI. docs/testing.md says how to gate a test instead.
 */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
/** The gate itself, and this scan (whose examples below are skips on purpose). */
const EXEMPT = [path.join('test', 'helpers', 'require-dep.ts'), path.join('test', 'helpers', 'no-silent-skip.test.ts')];
const SKIP = /\b(?:describe|test|it)\.skip\b|\bx(?:it|describe|test)\s*\(/;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(p);
    return /\.(ts|js)$/.test(e.name) ? [p] : [];
  });
}

test('no test skips outside the dependency gate', () => {
  const files = [...sources(path.join(ROOT, 'test')), ...sources(path.join(ROOT, 'src')).filter((f) => f.endsWith('.test.ts'))];
  expect(files.length).toBeGreaterThan(100);
  const found = files.filter((f) => !EXEMPT.includes(path.relative(ROOT, f))).flatMap((f) =>
    fs.readFileSync(f, 'utf8').split('\n').flatMap((line, i) => (SKIP.test(line) ? [`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`] : [])));
  expect(found).toEqual([]);
});

test('the scan sees a skip when there is one', () => {
  expect(SKIP.test("(have ? describe : describe.skip)('x', () => {});")).toBe(true);
  expect(SKIP.test("const run = ok ? test : test.skip;")).toBe(true);
  expect(SKIP.test('xit("x", () => {})')).toBe(true);
  expect(SKIP.test("requireDep('numpy', ok, 'why').test('x', () => {});")).toBe(false);
});
