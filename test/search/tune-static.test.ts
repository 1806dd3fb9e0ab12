/**
 * `mc tune --space static`: static int8 per layer (the others float), with the
 * calibration method searched first as a global dimension, through the built
 * binary on the fixture CNN. The method each all-static plan was scored with is
 * re-made by `mc apply` from a recipe written here and judged by `mc eval`
 * (onnxruntime), so tune's choice is checked against measurements it did not make.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const CALIB = path.join(FIX, 'calib-x.npy');
const DATA = ['--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')];
const METHODS = ['minmax', 'percentile', 'percentile@99.99', 'entropy', 'mse'];

/** The recipe keys a --calib-methods entry stands for (percentile@p: the percentile method keeping p%). */
function keys(m: string): string {
  const p = /^percentile@(.+)$/.exec(m);
  return p ? `calib-method: percentile, percentile: ${p[1]}` : `calib-method: ${m}`;
}
const dir = tempDir('tune-static');

interface Trial { id: number; scope: string; passed: boolean; value: number; latency?: number; plan: Record<string, string[]>; sqnrDb: number | null }

function evalModel(file: string): { drop: number; sqnrDb: number; opTypes: string[] } {
  const r = runMc(['eval', file, '--baseline', CNN, ...DATA, '--runs', '0', '--json', '-']);
  expect(r.code).toBe(0);
  const rep = JSON.parse(r.stdout);
  const ins = runMc(['inspect', file, '--json']);
  expect(ins.code).toBe(0);
  const ops = JSON.parse(ins.stdout).opTypes as { opType: string }[];
  return { drop: rep.delta.accuracyTop1Points, sqnrDb: rep.candidate.fidelity.sqnrDb, opTypes: ops.map((o) => o.opType) };
}

describe('--space static --calib-methods minmax,percentile,percentile@99.99,entropy,mse --max-accuracy-drop 0.5', () => {
  const out = path.join(dir, 'best.onnx');
  const recipe = path.join(dir, 'best.yaml');
  let code: number | null;
  let rep: { calibration: { tried: { method: string; value: number; slack: number; sqnrDb: number }[]; chosen: string }; best: Trial; layers: string[]; dimensions: { name: string }[] };
  beforeAll(() => {
    const r = runMc(['tune', CNN, ...DATA, '--calib', CALIB, '--max-accuracy-drop', '0.5', '--space', 'static', '--calib-methods', METHODS.join(','), '-o', out, '--recipe-out', recipe, '--json'], { timeoutMs: 300_000 });
    code = r.code;
    rep = JSON.parse(r.stdout);
  });

  test('each method\'s all-static plan, re-made by mc apply and judged by mc eval, scores what tune measured; the chosen one has the largest slack', () => {
    expect(code).toBe(0);
    expect(rep.calibration.tried.map((t) => t.method)).toEqual(METHODS);
    for (const t of rep.calibration.tried) {
      const y = path.join(dir, `all-${t.method}.yaml`);
      fs.writeFileSync(y, `steps:\n  - quantize: { calib: ${CALIB}, ${keys(t.method)}, small-layers: int8, space-to-depth: 'off' }\n    layers: [${rep.layers.join(', ')}]\n`);
      const f = path.join(dir, `all-${t.method}.onnx`);
      expect(runMc(['apply', y, CNN, '-o', f]).code).toBe(0);
      const m = evalModel(f);
      expect(m.drop).toBeCloseTo(t.value, 9);
      expect(m.sqnrDb).toBeCloseTo(t.sqnrDb, 6);
    }
    const top = Math.max(...rep.calibration.tried.map((t) => t.slack));
    const tied = rep.calibration.tried.filter((t) => t.slack === top);
    const want = tied.reduce((a, b) => (b.sqnrDb > a.sqnrDb ? b : a));
    expect(rep.calibration.chosen).toBe(want.method);
  });

  test('the answer is static int8 (QuantizeLinear in the graph), meets the budget by mc eval, and mc apply of its recipe gives the same bytes', () => {
    const m = evalModel(out);
    expect(m.drop).toBeLessThanOrEqual(0.5);
    expect(m.opTypes).toContain('QuantizeLinear');
    expect(Object.values(rep.best.plan).flat()).toContain('int8');
    const again = path.join(dir, 'applied.onnx');
    expect(runMc(['apply', recipe, CNN, '-o', again]).code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
    expect(fs.readFileSync(recipe, 'utf8')).toContain(`calib-method: ${rep.calibration.chosen.replace(/@.*/, '')}`);
  });
});

describe('--space static --objective latency: every plan timed end to end', () => {
  test('each trial carries its timed latency, the answer is the fastest passing all-data trial, and --workers 2 is refused', () => {
    const r = runMc(['tune', CNN, ...DATA, '--calib', CALIB, '--max-accuracy-drop', '0.5', '--space', 'static', '--objective', 'latency', '-o', path.join(dir, 'lat.onnx'), '--json'], { timeoutMs: 300_000 });
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as { trials: Trial[]; best: Trial; latencyObjective: { mode: string; best: { ratio: number } } };
    expect(rep.latencyObjective.mode).toBe('end-to-end');
    for (const t of rep.trials) expect(typeof t.latency).toBe('number');
    const passing = rep.trials.filter((t) => t.scope === 'all' && t.passed);
    expect(rep.best.latency).toBe(Math.min(...passing.map((t) => t.latency!)));
    expect(rep.latencyObjective.best.ratio).toBeGreaterThan(0);
    const w = runMc(['tune', CNN, ...DATA, '--calib', CALIB, '--max-accuracy-drop', '0.5', '--space', 'static', '--objective', 'latency', '--workers', '2', '-o', path.join(dir, 'w.onnx')]);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/times every plan end to end: give --workers 1/);
  });

  test('static without --calib, and static with quantize, are refused with one line', () => {
    const a = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '0.5', '--space', 'static']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--space static needs --calib/);
    const b = runMc(['tune', CNN, ...DATA, '--calib', CALIB, '--max-accuracy-drop', '0.5', '--space', 'static,quantize']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/static and quantize both quantize a layer/);
  });
});
