/**
 * `mc tune --objective latency` and `--objective size,latency` outside NetAdapt
 * (src/search/latency-objective.ts), through the built binary on the fixture CNN.
 *
 * Latency itself is timed in onnxruntime and differs from run to run, so the
 * test does not assert timings. It asserts what follows from the table the
 * run printed: every trial's latency is 1 + Σ (entry − 1) over the layers and
 * dimensions it changes (recomputed here), only rungs measured faster are given
 * under latency alone, the size/latency trade-off is exactly the non-dominated
 * passing trials (brute force), and the answer is the one objective.ts defines.
 * The answer's accuracy is re-measured by `mc eval` (onnxruntime); a rerun with
 * the kept table (--latency-table) writes the same bytes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const DATA = ['--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')];
const BUDGET = '3';

interface Row { layer: string; dimension: string; rung: string | number; ratio: number | null; spread: number; high: number | null; max: number | null; error?: string }
interface Trial { id: number; key: string; scope: string; phase: string; passed: boolean; value: number; weightBytes: number; latency?: number; plan: Record<string, (string | number)[]> }
interface Report {
  objective: string[];
  dimensions: { name: string; rungs: (string | number)[] }[];
  layers: string[];
  trials: Trial[];
  best: Trial;
  sensitivity: { layer: string; dimension: string; rung: string | number; error?: string }[];
  tradeoff?: Trial[];
  latencyObjective: { table: Row[]; best: { estimate: number; ratio: number | null } };
}

const dir = tempDir('tune-latency-objective');
const table = path.join(dir, 'latency.json');

function tune(name: string, args: string[]): { code: number | null; report: Report; out: string; stderr: string } {
  const out = path.join(dir, `${name}.onnx`);
  const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', BUDGET, '--latency-table', table, '-o', out, '--recipe-out', path.join(dir, `${name}.yaml`), '--json', ...args], { timeoutMs: 300_000 });
  return { code: r.code, report: JSON.parse(r.stdout) as Report, out, stderr: r.stderr };
}

/** The table's entry for a layer (its key is name[shape]), dimension and rung. */
function entry(rep: Report, layer: string, dim: string, rung: string | number): Row {
  const e = rep.latencyObjective.table.find((x) => x.layer.startsWith(`${layer}[`) && x.dimension === dim && x.rung === rung);
  if (!e) throw new Error(`no table entry for ${layer} ${dim} ${rung}`);
  return e;
}

/** 1 + Σ (entry − 1) over the layers and dimensions a plan moves off the safest rung (float, dense). */
function estimate(rep: Report, plan: Trial['plan']): number {
  let s = 1;
  for (const [layer, rungs] of Object.entries(plan)) {
    rungs.forEach((rung, d) => {
      const dim = rep.dimensions[d];
      if (rung === dim.rungs[dim.rungs.length - 1]) return;
      const e = entry(rep, layer, dim.name, rung);
      s += e.ratio === null ? Infinity : e.ratio - 1;
    });
  }
  return s;
}

function evalDrop(file: string): number {
  const r = runMc(['eval', file, '--baseline', CNN, ...DATA, '--runs', '0', '--json', '-']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).delta.accuracyTop1Points as number;
}

describe('--objective latency --space channels,quantize', () => {
  let run: ReturnType<typeof tune>;
  beforeAll(() => {
    run = tune('lat', ['--objective', 'latency', '--space', 'channels,quantize', '--options', 'int8,float']);
  });

  test('every trial\'s latency is the table\'s estimate of its plan, and the answer\'s too', () => {
    expect(run.code).toBe(0);
    const rep = run.report;
    expect(rep.objective).toEqual(['latency']);
    expect(rep.trials.length).toBeGreaterThan(5);
    for (const t of rep.trials) expect(t.latency).toBeCloseTo(estimate(rep, t.plan), 5);
    expect(rep.latencyObjective.best.estimate).toBeCloseTo(estimate(rep, rep.best.plan), 5);
    expect(rep.latencyObjective.best.ratio).not.toBeNull();
  });

  test('only rungs measured faster than float (every repeat) are given; the others are named with their ratio', () => {
    const rep = run.report;
    for (const s of rep.sensitivity) {
      const e = entry(rep, s.layer, s.dimension, s.rung);
      if (e.ratio !== null && e.max! >= 1) expect(s.error).toMatch(/^not faster than float \(latency ratio/);
      if (e.ratio !== null && e.max! < 1) expect(s.error ?? '').not.toMatch(/not faster/);
    }
    for (const [layer, rungs] of Object.entries(rep.best.plan)) {
      rungs.forEach((rung, d) => {
        const dim = rep.dimensions[d];
        if (rung !== dim.rungs[dim.rungs.length - 1]) expect(entry(rep, layer, dim.name, rung).max).toBeLessThan(1);
      });
    }
    // The search had something to give: a channel cut measured faster.
    expect(rep.latencyObjective.table.some((e) => e.dimension === 'channels' && e.ratio !== null && e.max! < 1)).toBe(true);
  });

  test('the answer is the passing all-data trial with the lowest estimate, it meets the budget by mc eval, and compresses something', () => {
    const rep = run.report;
    const passing = rep.trials.filter((t) => t.scope === 'all' && t.passed);
    expect(rep.best.latency).toBe(Math.min(...passing.map((t) => t.latency!)));
    expect(Object.keys(rep.best.plan).length).toBeGreaterThan(0);
    expect(rep.best.latency!).toBeLessThan(1);
    expect(evalDrop(run.out)).toBeLessThanOrEqual(Number(BUDGET));
  });

  test('a rerun with the kept table (--latency-table) writes the same bytes, and mc apply reproduces them', () => {
    const again = tune('lat-again', ['--objective', 'latency', '--space', 'channels,quantize', '--options', 'int8,float']);
    expect(again.code).toBe(0);
    expect(fs.readFileSync(again.out).equals(fs.readFileSync(run.out))).toBe(true);
    const applied = path.join(dir, 'applied.onnx');
    const a = runMc(['apply', path.join(dir, 'lat.yaml'), CNN, '-o', applied]);
    expect(a.code).toBe(0);
    expect(fs.readFileSync(applied).equals(fs.readFileSync(run.out))).toBe(true);
  });
});

describe('--objective size,latency --space channels,quantize (evolve by default)', () => {
  let run: ReturnType<typeof tune>;
  beforeAll(() => {
    run = tune('both', ['--objective', 'size,latency', '--space', 'channels,quantize', '--options', 'int4,int8,float', '--population', '8']);
  });

  test('the trade-off is exactly the passing trials no other passing trial beats on both size and latency', () => {
    expect(run.code).toBe(0);
    const rep = run.report;
    expect(rep.trials.some((t) => t.phase === 'evolve')).toBe(true);
    const passing = rep.trials.filter((t) => t.scope === 'all' && t.passed);
    const beats = (q: Trial, p: Trial): boolean => q.weightBytes <= p.weightBytes && q.latency! <= p.latency! && (q.weightBytes < p.weightBytes || q.latency! < p.latency!);
    const want = passing.filter((p) => !passing.some((q) => beats(q, p)));
    const key = (t: Trial): string => `${t.weightBytes}/${t.latency}`;
    expect(new Set(rep.tradeoff!.map(key))).toEqual(new Set(want.map(key)));
    // A real trade-off on this model: the smallest passing plan is not the fastest one.
    expect(rep.tradeoff!.length).toBeGreaterThanOrEqual(2);
  });

  test('the answer minimises bytes / float bytes + latency among passing trials, and meets the budget by mc eval', () => {
    const rep = run.report;
    const floatBytes = rep.trials.find((t) => Object.keys(t.plan).length === 0)!.weightBytes;
    const score = (t: Trial): number => t.weightBytes / floatBytes + t.latency!;
    const passing = rep.trials.filter((t) => t.scope === 'all' && t.passed);
    expect(score(rep.best)).toBeCloseTo(Math.min(...passing.map(score)), 9);
    expect(rep.tradeoff!.map((t) => t.id)).toContain(rep.best.id);
    expect(evalDrop(run.out)).toBeLessThanOrEqual(Number(BUDGET));
  });
});

describe('--objective latency --space quantize: weight-only rungs', () => {
  test('when no rung is faster than float, it says so per weight and exits 2 (0 with --allow-empty); otherwise it gives only faster rungs', () => {
    const r = tune('q', ['--objective', 'latency', '--space', 'quantize', '--options', 'int8,float']);
    const rows = r.report.latencyObjective.table.filter((e) => e.dimension === 'quantize');
    expect(rows.length).toBe(r.report.layers.length);
    const faster = rows.filter((e) => e.ratio !== null && e.max! < 1);
    if (!faster.length) {
      expect(r.code).toBe(2);
      for (const l of r.report.layers) expect(r.stderr).toContain(`${l} quantize int8: not faster than float`);
      expect(tune('q-allow', ['--objective', 'latency', '--space', 'quantize', '--options', 'int8,float', '--allow-empty']).code).toBe(0);
    } else {
      for (const [layer] of Object.entries(r.report.best.plan)) expect(entry(r.report, layer, 'quantize', 'int8').max).toBeLessThan(1);
    }
  });
});
