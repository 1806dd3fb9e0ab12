/**
 * The one gate for tests that cannot run everywhere. Two kinds, kept apart on purpose:
 *
 *  - requireDep(name, available, why): something outside the repository that the test needs
 *    (numpy, torch, ONNX's backend test data, chromium, the real-model corpus). Where it is
 *    missing the gated tests skip loudly, naming what is missing and how to get it. They FAIL
 *    instead when CI is set (CI=true) or when the dependency's MC_REQUIRE_<NAME> variable is
 *    set (name upper-cased, '-' → '_': 'onnx-testdata' → MC_REQUIRE_ONNX_TESTDATA). .ci/run
 *    installs every dependency and sets them all, so CI cannot skip a test quietly.
 *
 *  - optIn(variable, why): a test that runs only when asked (MC_TIMING_TESTS=1: timing targets
 *    that a shared, loaded CI runner cannot hold; they belong in the bench). Skips loudly when
 *    not asked, and never fails for it, CI or not.
 *
 * Each returns a Gate whose `describe` and `test` stand in for jest's: the real ones when the
 * gated tests run, a skip (with a console warning) or a failing test otherwise. A gated
 * describe that does not run never runs its body (so the body may read what is missing).
 * docs/testing.md lists the dependencies and opt-ins; test/helpers/no-silent-skip.test.ts
 * fails on a jest skip anywhere else.
 */
import { spawnSync } from 'child_process';

export type GateKind = 'dependency' | 'opt-in';

export interface Gate {
  readonly kind: GateKind;
  /** The dependency's name ('numpy'), or the opt-in's variable ('MC_TIMING_TESTS'). */
  readonly name: string;
  /** True when the gated tests run. */
  readonly run: boolean;
  /** True when the gated tests are registered as failures (a required dependency is missing). */
  readonly failing: boolean;
  /** The line printed when the tests do not run ('' when they run). */
  readonly message: string;
  readonly describe: jest.Describe;
  readonly test: jest.It;
}

/** Debian's interpreter, for test oracles only (the `python3` first on PATH does not see Debian's packages). */
export const ORACLE_PYTHON = process.env.MC_ORACLE_PYTHON ?? '/usr/bin/python3';

const truthy = (v: string | undefined): boolean => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/** MC_REQUIRE_<NAME> for a dependency name. */
export function requireVariable(name: string): string {
  return `MC_REQUIRE_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** Why a missing dependency must fail here, or undefined when it may skip. */
function requiredBy(name: string): string | undefined {
  const v = requireVariable(name);
  if (truthy(process.env[v])) return `${v}=${process.env[v]}`;
  if (truthy(process.env.CI)) return `CI=${process.env.CI}`;
  return undefined;
}

/**
 * Gate tests on a dependency. `available` says whether it is here; `why` names what is missing
 * and how to get it ('/usr/bin/python3 cannot import torch (apt-get install python3-torch)').
 */
export function requireDep(name: string, available: boolean, why: string): Gate {
  if (available) return open('dependency', name);
  const by = requiredBy(name);
  if (by) {
    const message = `${name} is required (${by}) but missing: ${why}`;
    console.error(`FAIL ${message}`);
    return { kind: 'dependency', name, run: false, failing: true, message, describe: failingDescribe(message), test: failingTest(message) };
  }
  const message = `SKIPPED: ${name} is missing: ${why}. Set ${requireVariable(name)}=1 (or CI=true) to make this a failure.`;
  console.warn(message);
  return skipped('dependency', name, message);
}

/** Gate tests that run only when `variable` is '1'. Never a failure, CI or not. */
export function optIn(variable: string, why: string): Gate {
  if (process.env[variable] === '1') return open('opt-in', variable);
  const message = `SKIPPED (opt-in): ${why}; run with ${variable}=1`;
  console.warn(message);
  return skipped('opt-in', variable, message);
}

const probes = new Map<string, { ok: boolean; why: string }>();

/** Whether ORACLE_PYTHON imports every one of `modules` (probed once per process). */
export function pythonHas(...modules: string[]): { ok: boolean; why: string } {
  const key = modules.join(',');
  let p = probes.get(key);
  if (!p) {
    const r = spawnSync(ORACLE_PYTHON, ['-c', `import ${key}`], { encoding: 'utf8' });
    const detail = r.error ? r.error.message : (r.stderr ?? '').trim().split('\n').pop() ?? '';
    p = { ok: r.status === 0, why: r.status === 0 ? '' : `${ORACLE_PYTHON} cannot import ${modules.join(', ')} (${detail})` };
    probes.set(key, p);
  }
  return p;
}

/** A dependency on Python modules for ORACLE_PYTHON: `debian` names the packages to install. */
export function requirePython(name: string, modules: string[], debian: string): Gate {
  const p = pythonHas(...modules);
  return requireDep(name, p.ok, `${p.why} (apt-get install ${debian})`);
}

/**
 * The real-model corpus (node scripts/corpus.js into .corpus/). Its tests fail by default when it
 * is absent, naming the command; MC_SKIP_CORPUS=1 asks to skip them, which this gate makes loud,
 * and a failure under CI=true or MC_REQUIRE_CORPUS.
 */
export function corpusGate(): Gate {
  return requireDep('corpus', process.env.MC_SKIP_CORPUS !== '1', 'MC_SKIP_CORPUS=1 asks to skip the real-model corpus (node scripts/corpus.js fetches it)');
}

function open(kind: GateKind, name: string): Gate {
  return { kind, name, run: true, failing: false, message: '', describe, test };
}

function skipped(kind: GateKind, name: string, message: string): Gate {
  return { kind, name, run: false, failing: false, message, describe: skippedDescribe(), test: test.skip };
}

/**
 * A stand-in for jest's `describe` that records the block as one skipped test without running its
 * body: jest's describe.skip still runs the body to collect tests, and a body may read what is missing.
 */
function skippedDescribe(): jest.Describe {
  const one = (title: string): void => test.skip(title, () => undefined);
  const each = (table: readonly unknown[]) => (title: string): void => test.skip.each(table as unknown[][])(title, () => undefined);
  return Object.assign(one, { each, only: one, skip: one }) as unknown as jest.Describe;
}

/** A stand-in for jest's `test` whose every test fails with `message` (titles, `.each` tables kept). */
function failingTest(message: string): jest.It {
  const fail = (): never => {
    throw new Error(message);
  };
  const one = (title: string): void => test(title, fail);
  const each = (table: readonly unknown[]) => (title: string): void => test.each(table as unknown[][])(title, fail);
  return Object.assign(one, { each, only: one, concurrent: one, failing: one, skip: test.skip, todo: test.todo }) as unknown as jest.It;
}

/** A stand-in for jest's `describe` whose block holds one failing test named after it. */
function failingDescribe(message: string): jest.Describe {
  const fail = (): never => {
    throw new Error(message);
  };
  const one = (title: string): void => test(`${title} (required dependency missing)`, fail);
  const each = (table: readonly unknown[]) => (title: string): void => test.each(table as unknown[][])(`${title} (required dependency missing)`, fail);
  return Object.assign(one, { each, only: one, skip: skippedDescribe().skip }) as unknown as jest.Describe;
}
