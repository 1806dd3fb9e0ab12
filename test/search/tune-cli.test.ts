/**
 * `mc tune` end to end on the fixture CNN, through the built binary. The
 * answer is judged independently of tune's own numbers: `mc eval` (onnxruntime)
 * re-measures the written model against the float one on all 1,000 eval
 * images, and the uniform plans are made by `mc quantize` (not by tune) and
 * measured the same way.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BIN, ROOT, runMc, tempDir } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const DATA = ['--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')];

interface Measured { drop: number; weightBytes: number; fileBytes: number }

/** `mc eval candidate --baseline cnn.onnx` on all the data: top-1 drop in points and sizes. */
function measure(file: string): Measured {
  const r = runMc(['eval', file, '--baseline', CNN, ...DATA, '--runs', '0', '--json', '-']);
  expect(r.code).toBe(0);
  const rep = JSON.parse(r.stdout);
  const bytes = rep.candidate.size.bytesByDtype as Record<string, number>;
  return { drop: rep.delta.accuracyTop1Points, weightBytes: Object.values(bytes).reduce((s, x) => s + x, 0), fileBytes: rep.candidate.size.bytes };
}

function logTrials(file: string): { key: string; id: number; passed: boolean; value: number; weightBytes: number; scope: string; phase: string; ms: number }[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === 'trial');
}

describe('mc tune on the fixture CNN, --max-accuracy-drop 0.5 --objective size --space quantize', () => {
  const dir = tempDir('tune');
  const out = path.join(dir, 'best.onnx');
  const recipe = path.join(dir, 'best.yaml');
  let run: ReturnType<typeof runMc>;
  beforeAll(() => {
    run = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--objective', 'size', '--space', 'quantize', '-o', out, '--recipe-out', recipe, '--report', path.join(dir, 'tune.md')]);
  });

  test('exits 0 and prints the plan before starting', () => {
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/planned at most \d+ trial\(s\), estimated [\d.]+ s/);
    expect(run.stdout).toMatch(/met --max-accuracy-drop 0.5/);
  });

  test('meets the budget on all the data, and is no larger than the smallest uniform plan that meets it (strictly smaller when all-int4 misses)', () => {
    const best = measure(out);
    expect(best.drop).toBeLessThanOrEqual(0.5);
    const uniform: Record<string, Measured> = {};
    for (const bits of ['8', '4']) {
      const f = path.join(dir, `int${bits}.onnx`);
      const q = runMc(['quantize', CNN, '--bits', bits, '--no-output-check', '-o', f]);
      expect(q.code).toBe(0);
      uniform[bits] = measure(f);
    }
    const passing = Object.values(uniform).filter((u) => u.drop <= 0.5);
    expect(passing.length).toBeGreaterThan(0);
    const smallest = Math.min(...passing.map((u) => u.weightBytes));
    expect(best.weightBytes).toBeLessThanOrEqual(smallest);
    if (uniform['4'].drop > 0.5) {
      expect(best.weightBytes).toBeLessThan(smallest);
      expect(best.fileBytes).toBeLessThan(Math.min(...passing.map((u) => u.fileBytes)));
    }
  });

  test('mc apply best.yaml gives the same bytes', () => {
    const again = path.join(dir, 'again.onnx');
    const r = runMc(['apply', recipe, CNN, '-o', again]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
  });

  test('the log has one line per trial, each key once; the Markdown report lists every trial', () => {
    const trials = logTrials(path.join(dir, 'best.tune.jsonl'));
    expect(new Set(trials.map((t) => t.key)).size).toBe(trials.length);
    expect(trials.map((t) => t.id)).toEqual(trials.map((_, i) => i));
    const md = fs.readFileSync(path.join(dir, 'tune.md'), 'utf8');
    for (const t of trials) expect(md).toContain(`| ${t.id} | ${t.phase} |`);
  });
});

describe('resume and determinism', () => {
  test('stopped after 6 trials and resumed: the same model bytes as an uninterrupted run, no trial run twice; --workers 2 the same', () => {
    const dir = tempDir('tune-resume');
    const args = [CNN, ...DATA, '--max-accuracy-drop', '0.5', '--seed', '3'];
    const whole = runMc(['tune', ...args, '-o', path.join(dir, 'whole.onnx')]);
    expect(whole.code).toBe(0);
    const part = runMc(['tune', ...args, '-o', path.join(dir, 'part.onnx'), '--log', path.join(dir, 'r.jsonl'), '--max-trials', '6']);
    expect(part.stdout).toMatch(/stopped: max-trials/);
    expect(logTrials(path.join(dir, 'r.jsonl'))).toHaveLength(6);
    const resumed = runMc(['tune', ...args, '-o', path.join(dir, 'resumed.onnx'), '--resume', path.join(dir, 'r.jsonl')]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/\(6 read back from the log\)/);
    expect(fs.readFileSync(path.join(dir, 'resumed.onnx')).equals(fs.readFileSync(path.join(dir, 'whole.onnx')))).toBe(true);
    const keys = logTrials(path.join(dir, 'r.jsonl')).map((t) => t.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(logTrials(path.join(dir, 'whole.tune.jsonl')).map((t) => t.key));
    // Two worker threads: the same trials in the same order with the same measurements, the same bytes.
    const two = runMc(['tune', ...args, '-o', path.join(dir, 'two.onnx'), '--workers', '2']);
    expect(two.code).toBe(0);
    const strip = (t: Record<string, unknown>): Record<string, unknown> => ({ ...t, ms: 0 });
    expect(logTrials(path.join(dir, 'two.tune.jsonl')).map(strip)).toEqual(logTrials(path.join(dir, 'whole.tune.jsonl')).map(strip));
    expect(fs.readFileSync(path.join(dir, 'two.onnx')).equals(fs.readFileSync(path.join(dir, 'whole.onnx')))).toBe(true);
  });

  test('killed (SIGKILL) after 5 trials and resumed: the same model bytes as an uninterrupted run', async () => {
    const dir = tempDir('tune-kill');
    const args = [CNN, ...DATA, '--max-accuracy-drop', '0.5'];
    expect(runMc(['tune', ...args, '-o', path.join(dir, 'whole.onnx')]).code).toBe(0);
    const log = path.join(dir, 'k.jsonl');
    const child = spawn(process.execPath, [BIN, 'tune', ...args, '-o', path.join(dir, 'killed.onnx'), '--log', log], { stdio: 'ignore' });
    const done = new Promise((resolve) => child.on('exit', resolve));
    const lines = (): number => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"type":"trial"')).length : 0);
    while (lines() < 5 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await done;
    expect(fs.existsSync(path.join(dir, 'killed.onnx'))).toBe(false);
    const before = lines();
    expect(before).toBeGreaterThanOrEqual(5);
    const resumed = runMc(['tune', ...args, '-o', path.join(dir, 'resumed.onnx'), '--resume', log]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`(${before} read back from the log)`);
    expect(fs.readFileSync(path.join(dir, 'resumed.onnx')).equals(fs.readFileSync(path.join(dir, 'whole.onnx')))).toBe(true);
  });

  test('a log of another search is refused', () => {
    const dir = tempDir('tune-resume-other');
    const log = path.join(dir, 'r.jsonl');
    runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--max-trials', '2', '-o', path.join(dir, 'a.onnx'), '--log', log]);
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '1', '-o', path.join(dir, 'b.onnx'), '--resume', log]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the log is of another search \(constraint/);
  });
});

describe('always an answer', () => {
  test('an impossible budget (--max-accuracy-drop 0, int4 only) writes the closest model and its recipe, says by how much it missed, exits 1', () => {
    const dir = tempDir('tune-impossible');
    const out = path.join(dir, 'closest.onnx');
    const recipe = path.join(dir, 'closest.yaml');
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0', '--options', 'int4', '-o', out, '--recipe-out', recipe]);
    expect(r.code).toBe(1);
    const m = /constraint missed: --max-accuracy-drop 0; the closest plan \(written\) measured ([\d.]+), ([\d.]+) points short/.exec(r.stderr);
    expect(m).not.toBeNull();
    const measured = measure(out);
    expect(measured.drop).toBeCloseTo(Number(m![1]), 6);
    expect(Number(m![2])).toBeCloseTo(measured.drop, 6);
    const again = path.join(dir, 'again.onnx');
    expect(runMc(['apply', recipe, CNN, '-o', again]).code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
  });

  test('--max-trials is honoured: the best so far is written', () => {
    const dir = tempDir('tune-max');
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--max-trials', '3', '-o', path.join(dir, 'b.onnx'), '--json']);
    const rep = JSON.parse(r.stdout);
    expect(rep.trials).toHaveLength(3);
    expect(rep.stopped).toBe('max-trials');
    expect(fs.existsSync(path.join(dir, 'b.onnx'))).toBe(true);
    // The first three trials are the uniform plans (all data): int8 meets the budget here.
    expect(r.code).toBe(rep.met ? 0 : 1);
  });
});

describe('subset, time budget, sensitivity only', () => {
  test('--subset 0.3: trials on 300 samples, the answer re-checked on all 1,000 and meeting the budget there', () => {
    const dir = tempDir('tune-subset');
    const out = path.join(dir, 's.onnx');
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--subset', '0.3', '-o', out, '--json']);
    expect(r.stderr).toMatch(/1000 samples \(trials on 300\)/);
    const rep = JSON.parse(r.stdout);
    expect(rep.trials.filter((t: { phase: string; scope: string }) => t.phase === 'sensitivity').every((t: { scope: string }) => t.scope === 'subset')).toBe(true);
    expect(rep.best.scope).toBe('all');
    expect(r.code).toBe(rep.met ? 0 : 1);
    if (rep.met) expect(measure(out).drop).toBeLessThanOrEqual(0.5);
  });

  test('--time-budget: stops starting trials once spent (setup included), writes the best so far', () => {
    const dir = tempDir('tune-time');
    const t0 = Date.now();
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--time-budget', '2s', '-o', path.join(dir, 't.onnx'), '--json']);
    const wall = Date.now() - t0;
    const rep = JSON.parse(r.stdout);
    expect(rep.stopped).toBe('time-budget');
    const longest = Math.max(...rep.trials.map((t: { ms: number }) => t.ms));
    // Setup and writing sit outside the trials; the search itself passes the budget by at most one trial.
    expect(rep.elapsedMs).toBeLessThanOrEqual(2000 + longest + 1000);
    expect(wall).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dir, 't.onnx'))).toBe(true);
  });

  test('--sensitivity-only: one row per layer and rung, no model', () => {
    const dir = tempDir('tune-sens');
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--sensitivity-only', '-o', path.join(dir, 'x.onnx'), '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.sensitivity).toHaveLength(5 * 2);
    expect(rep.best).toBeNull();
    expect(fs.existsSync(path.join(dir, 'x.onnx'))).toBe(false);
  });
});

describe('GPTQ as a rung (--options int4-gptq --calib)', () => {
  test('the answer meets the budget on all the data and mc apply of its recipe (method gptq, calib) gives the same bytes', () => {
    const dir = tempDir('tune-gptq');
    const out = path.join(dir, 'g.onnx');
    const recipe = path.join(dir, 'g.yaml');
    const r = runMc(['tune', CNN, ...DATA, '--calib', path.join(FIX, 'calib-x.npy'), '--max-accuracy-drop', '0.5', '--options', 'int4,int4-gptq,int8,float', '-o', out, '--recipe-out', recipe, '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.dimensions[0].rungs).toEqual(['int4', 'int4-gptq', 'int8', 'float']);
    expect(measure(out).drop).toBeLessThanOrEqual(0.5);
    if (rep.plan.some((p: { choice: { quantize: string } }) => p.choice.quantize === 'int4-gptq')) expect(fs.readFileSync(recipe, 'utf8')).toMatch(/method: gptq/);
    const again = path.join(dir, 'again.onnx');
    expect(runMc(['apply', recipe, CNN, '-o', again]).code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
  });

  test('int4-gptq without --calib is refused', () => {
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--options', 'int4-gptq,int8', '-o', path.join(tempDir('tune-gptq-no'), 'x.onnx')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/int4-gptq needs --calib/);
  });
});

describe('--space channels,quantize', () => {
  test('channel pruning ratios and quantize options per layer: budget met on all the data, mc apply gives the same bytes, a layer that cannot lose channels never gets a channel rung', () => {
    const dir = tempDir('tune-channels');
    const out = path.join(dir, 'c.onnx');
    const recipe = path.join(dir, 'c.yaml');
    const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '1', '--space', 'channels,quantize', '-o', out, '--recipe-out', recipe]);
    expect(r.code).toBe(0);
    expect(measure(out).drop).toBeLessThanOrEqual(1);
    const again = path.join(dir, 'again.onnx');
    expect(runMc(['apply', recipe, CNN, '-o', again]).code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
    // logits' output channels are the graph output: its channel sensitivity trials fail, and no later trial tries it.
    const trials = logTrials(path.join(dir, 'c.tune.jsonl')) as unknown as { phase: string; plan: Record<string, (string | number)[]>; error?: string }[];
    const logits = trials.filter((t) => (t.plan['logits.weight']?.[0] ?? 0) !== 0);
    expect(logits.length).toBeGreaterThan(0);
    for (const t of logits) {
      expect(t.phase === 'sensitivity' || t.phase === 'uniform').toBe(true);
      if (t.phase === 'sensitivity') expect(t.error).toMatch(/pruned no layer/);
    }
  });
});
