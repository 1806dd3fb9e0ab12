/**
 * The gate of test/helpers/require-dep.ts, run for real: a small test file gated on a
 * dependency that is never here ('frobnicator') and on an opt-in runs in a child jest,
 * and its results are read back (jest --json). Missing, it skips with a warning naming
 * what is missing; under CI=true or MC_REQUIRE_FROBNICATOR=1 every gated test fails
 * with that message; the opt-in skips in every case and never fails.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { requireVariable } from './require-dep';

const ROOT = path.join(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-gate-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

fs.writeFileSync(path.join(dir, 'gate.test.ts'), `
import { optIn, requireDep } from ${JSON.stringify(path.join(__dirname, 'require-dep'))};
const g = requireDep('frobnicator', false, '/usr/bin/frob is missing (apt-get install frob)');
g.describe('suite', () => { throw new Error('a gated describe body ran'); });
g.test('single', () => undefined);
g.test.each([[1], [2]])('each %s', () => undefined);
optIn('MC_GATE_SELF_TEST_OPT_IN', 'a gated timing test').test('timing', () => undefined);
test('ungated', () => undefined);
`);

interface Run { statuses: Record<string, string>; messages: string; stderr: string }

function runJest(env: Record<string, string>): Run {
  const config = {
    rootDir: dir,
    testMatch: ['**/*.test.ts'],
    transform: { '^.+\\.ts$': [require.resolve('ts-jest'), { isolatedModules: true, diagnostics: false }] },
  };
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CI' && !k.startsWith('MC_REQUIRE_') && k !== 'MC_GATE_SELF_TEST_OPT_IN'));
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--config', JSON.stringify(config), '--json', '--ci'], {
    cwd: ROOT, env: { ...clean, ...env, NO_COLOR: '1', FORCE_COLOR: '0' }, encoding: 'utf8', timeout: 120_000,
  });
  const out = JSON.parse(r.stdout) as { testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[] };
  const results = out.testResults.flatMap((t) => t.assertionResults);
  return {
    statuses: Object.fromEntries(results.map((a) => [a.fullName, a.status])),
    messages: results.flatMap((a) => a.failureMessages).join('\n'),
    stderr: r.stderr,
  };
}

test('the variable of a dependency is MC_REQUIRE_ plus its name upper-cased', () => {
  expect(requireVariable('onnx-testdata')).toBe('MC_REQUIRE_ONNX_TESTDATA');
  expect(requireVariable('fashion-mnist')).toBe('MC_REQUIRE_FASHION_MNIST');
  expect(requireVariable('chromium')).toBe('MC_REQUIRE_CHROMIUM');
});

test('missing and not required: the gated tests skip, and a warning names what is missing', () => {
  const r = runJest({});
  expect(r.statuses).toEqual({ suite: 'pending', single: 'pending', 'each 1': 'pending', 'each 2': 'pending', timing: 'pending', ungated: 'passed' });
  expect(r.stderr).toContain('SKIPPED: frobnicator is missing: /usr/bin/frob is missing (apt-get install frob). Set MC_REQUIRE_FROBNICATOR=1');
  expect(r.stderr).toContain('SKIPPED (opt-in): a gated timing test; run with MC_GATE_SELF_TEST_OPT_IN=1');
});

test.each([
  ['CI=true', { CI: 'true' }],
  ['MC_REQUIRE_FROBNICATOR=1', { MC_REQUIRE_FROBNICATOR: '1' }],
])('missing under %s: every gated test fails naming it; the opt-in still only skips', (label, env) => {
  const r = runJest(env);
  expect(r.statuses).toEqual({
    'suite (required dependency missing)': 'failed', single: 'failed', 'each 1': 'failed', 'each 2': 'failed', timing: 'pending', ungated: 'passed',
  });
  expect(r.messages).toContain(`frobnicator is required (${label}) but missing: /usr/bin/frob is missing (apt-get install frob)`);
});

test('CI=false and an opt-in asked for: nothing fails, the opt-in runs', () => {
  const r = runJest({ CI: 'false', MC_GATE_SELF_TEST_OPT_IN: '1' });
  expect(r.statuses.timing).toBe('passed');
  expect(r.statuses.single).toBe('pending');
});
