/**
 * `mc tune` on the hard fixture (fixtures/ds-cnn.onnx, a depthwise-separable
 * CNN where uniform int4 loses more than a point) and `--strategy evolve`'s
 * Pareto front, through the built binary. Sizes and accuracy of the answer
 * are re-measured by `mc eval` (onnxruntime); uniform int8 and int4 are made
 * by `mc quantize`, not by tune. The HTML report is opened in headless
 * chromium when it is installed.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';
import { requireDep } from '../helpers/require-dep';

const FIX = path.join(ROOT, 'fixtures');
const DS = path.join(FIX, 'ds-cnn.onnx');
const DATA = ['--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')];
const OPTIONS = ['--options', 'int4-b128,int4,int8,float'];

function measure(file: string): { drop: number; weightBytes: number } {
  const r = runMc(['eval', file, '--baseline', DS, ...DATA, '--runs', '0', '--json', '-']);
  expect(r.code).toBe(0);
  const rep = JSON.parse(r.stdout);
  return { drop: rep.delta.accuracyTop1Points, weightBytes: Object.values(rep.candidate.size.bytesByDtype as Record<string, number>).reduce((s, x) => s + x, 0) };
}

interface Trial { id: number; key: string; scope: string; passed: boolean; value: number; weightBytes: number; plan: Record<string, string[]> }

function logTrials(file: string): Trial[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === 'trial');
}

/** Independent of src/search/pareto.ts: a dominates b when no larger, no worse, and better in one. */
const dominates = (a: Trial, b: Trial): boolean =>
  a.weightBytes <= b.weightBytes && a.value <= b.value && (a.weightBytes < b.weightBytes || a.value < b.value);

describe('hard case: fixtures/ds-cnn.onnx, --max-accuracy-drop 0.5', () => {
  const dir = tempDir('tune-hard');
  test('uniform int4 loses more than a point; tune finds a mixed plan within budget at ≤ 60% of uniform int8\'s weight bytes', () => {
    const uniform: Record<string, { drop: number; weightBytes: number }> = {};
    for (const bits of ['8', '4']) {
      const f = path.join(dir, `int${bits}.onnx`);
      expect(runMc(['quantize', DS, '--bits', bits, '--no-output-check', '-o', f]).code).toBe(0);
      uniform[bits] = measure(f);
    }
    expect(uniform['4'].drop).toBeGreaterThan(1);
    const out = path.join(dir, 'best.onnx');
    const r = runMc(['tune', DS, ...DATA, '--max-accuracy-drop', '0.5', ...OPTIONS, '-o', out, '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    const forms = new Set(rep.plan.map((p: { choice: { quantize: string } }) => p.choice.quantize));
    expect(forms.size).toBeGreaterThan(1);
    const best = measure(out);
    expect(best.drop).toBeLessThanOrEqual(0.5);
    expect(best.weightBytes).toBeLessThanOrEqual(0.6 * uniform['8'].weightBytes);
  });
});

describe('--strategy evolve: the Pareto front', () => {
  const dir = tempDir('tune-evolve');
  const log = path.join(dir, 'ev.jsonl');
  const html = path.join(dir, 'ev.html');
  let rep: { front: Trial[]; uniform: { option: string; trial: Trial }[]; trials: Trial[]; constraint: { limit: number } };
  beforeAll(() => {
    const r = runMc(['tune', DS, ...DATA, '--max-accuracy-drop', '0.5', ...OPTIONS, '--strategy', 'evolve', '--population', '12', '--seed', '1',
      '-o', path.join(dir, 'ev.onnx'), '--log', log, '--report', html, '--json']);
    expect(r.code).toBe(0);
    rep = JSON.parse(r.stdout);
  });

  test('no trial in the log dominates a front point', () => {
    const trials = logTrials(log).filter((t) => t.scope === 'all');
    expect(trials.length).toBeGreaterThan(rep.front.length);
    for (const f of rep.front) {
      const logged = trials.find((t) => t.id === f.id)!;
      expect(logged).toBeDefined();
      for (const t of trials) expect(dominates(t, logged)).toBe(false);
    }
  });

  test('every uniform plan is on the front or dominated by a front plan, and a mixed front plan within budget is smaller than every uniform plan within it', () => {
    const onFront = new Set(rep.front.map((f) => f.id));
    for (const u of rep.uniform) {
      if (!onFront.has(u.trial.id)) expect(rep.front.some((f) => dominates(f, u.trial))).toBe(true);
    }
    const uniformIds = new Set(rep.uniform.map((u) => u.trial.id));
    const passingUniform = rep.uniform.filter((u) => u.trial.value <= rep.constraint.limit);
    const mixed = rep.front.filter((f) => !uniformIds.has(f.id) && f.value <= rep.constraint.limit);
    expect(mixed.length).toBeGreaterThan(0);
    expect(Math.min(...mixed.map((f) => f.weightBytes))).toBeLessThan(Math.min(...passingUniform.map((u) => u.trial.weightBytes)));
  });

  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
  // Skips loudly without chromium; .ci/run installs it and sets MC_REQUIRE_CHROMIUM, so CI cannot skip.
  requireDep('chromium', chromium !== undefined, '/usr/bin/chromium is not installed (apt-get install chromium)').test('the HTML report renders in headless chromium: one mark per trial, nothing fetched', () => {
    const open = (file: string): { dom: string; fetched: string[] } => {
      const net = path.join(dir, `${path.basename(file)}.netlog.json`);
      const r = spawnSync(chromium!, ['--headless', '--no-sandbox', '--disable-gpu', `--log-net-log=${net}`, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
      // Requests the page made carry its (opaque, "null") initiator; chromium's own background
      // requests (updates, time) carry "not an origin".
      const events = JSON.parse(fs.readFileSync(net, 'utf8')).events as { params?: { url?: string; initiator?: string } }[];
      const fetched = events.filter((e) => e.params?.url && e.params.initiator !== undefined && e.params.initiator !== 'not an origin').map((e) => e.params!.url!);
      return { dom: r.stdout, fetched };
    };
    // The check sees a fetch when there is one.
    const control = path.join(dir, 'control.html');
    fs.writeFileSync(control, '<html><body><img src="http://127.0.0.1:9/x.png"></body></html>');
    expect(open(control).fetched).toContain('http://127.0.0.1:9/x.png');
    const { dom, fetched } = open(html);
    expect(fetched).toEqual([]);
    expect(dom).toContain('<svg');
    expect((dom.match(/<circle class="trial[ "]/g) ?? []).length).toBe(rep.trials.length);
    expect(dom).not.toMatch(/\s(src|href|srcset)=|url\(/);
  });
});
