/**
 * NetAdapt under a latency budget, end to end through the built binary, on
 * the fixture CNN: `mc tune --space channels --max-latency-ratio 0.7`. The
 * answer is judged by `mc eval` (onnxruntime, 1 thread, its latency against
 * the float model timed in the same run), not by tune's own numbers, and
 * compared with uniform channel pruning (`mc prune --pattern channel`, every
 * layer the same share of filters) at the least pruning that is measured to
 * be as fast.
 *
 * Latency on this shared machine is noisy: every latency figure here is the
 * median of repeated `mc eval --runs 40` runs, and their range is printed.
 * The assertions are on those medians and are not loosened: if the machine
 * is too loaded for the median to settle on the right side of 0.7, the test
 * fails and the printed ranges say why.
 *
 * Timing targets belong in `npm run bench`, not in `npm test`, whose jest workers
 * run other suites on the same cores meanwhile: this file runs only with
 * MC_TIMING_TESTS=1 (`MC_TIMING_TESTS=1 npx jest test/search/netadapt-latency.test.ts`,
 * alone on the machine) and says so loudly otherwise.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';
import { optIn } from '../helpers/require-dep';

const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const DATA = ['--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')];
const BUDGET = 0.7;

interface Timed { ratio: number; min: number; max: number; top1: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `mc eval file --baseline cnn.onnx --runs 40`, `repeats` times: the median latency ratio, its range, and top-1 on all the data. */
function timed(file: string, repeats: number): Timed {
  const ratios: number[] = [];
  let top1 = NaN;
  for (let i = 0; i < repeats; i++) {
    const r = runMc(['eval', file, '--baseline', CNN, ...DATA, '--runs', '40', '--json', '-']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.candidate.latency.threads).toBe(1);
    ratios.push(rep.delta.latencyRatio);
    top1 = rep.candidate.accuracy.top1;
  }
  return { ratio: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), top1 };
}

jest.setTimeout(600_000);

// An opt-in, not a missing dependency: it never fails for being skipped, CI or not.
optIn('MC_TIMING_TESTS', 'test/search/netadapt-latency.test.ts is a latency-budget test (run it alone: its timings need idle cores)').describe('mc tune --space channels --max-latency-ratio 0.7 on the fixture CNN (NetAdapt)', () => {
  const dir = tempDir('netadapt');
  const out = path.join(dir, 'best.onnx');
  const recipe = path.join(dir, 'best.yaml');
  let run: ReturnType<typeof runMc>;
  let report: { latency: { met: boolean; checks: { ratio: number; spread: number }[]; table: unknown[] }; best: { metric: number }; plan: { choice: { channels: number } }[] };
  beforeAll(() => {
    run = runMc(['tune', CNN, ...DATA, '--space', 'channels', '--max-latency-ratio', String(BUDGET), '-o', out, '--recipe-out', recipe, '--json']);
    report = JSON.parse(run.stdout);
    // What the search saw, so a failure below can be read: its own end-to-end checks and the plan.
    // eslint-disable-next-line no-console
    console.log(`tune: checks ${JSON.stringify(report.latency.checks.map((c) => [c.ratio, c.spread].map((x) => Number(x.toFixed(3)))))} (median, spread); plan ${JSON.stringify(report.plan.map((p) => p.choice.channels))}; top-1 ${report.best.metric}`);
  });

  test('exits 0, reports the table with its noise and the end-to-end check', () => {
    expect(run.code).toBe(0);
    expect(report.latency.met).toBe(true);
    expect(report.latency.table.length).toBeGreaterThan(0);
    const last = report.latency.checks[report.latency.checks.length - 1];
    expect(last.ratio).toBeLessThanOrEqual(BUDGET);
    expect(Number.isFinite(last.spread)).toBe(true);
  });

  test('mc apply of the recipe writes the same bytes', () => {
    const again = path.join(dir, 'again.onnx');
    const r = runMc(['apply', recipe, CNN, '-o', again]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
  });

  test('meets the budget as mc eval measures it, and loses less top-1 than uniform channel pruning that is as fast', () => {
    const best = timed(out, 5);
    const float = timed(CNN, 1).top1;
    // eslint-disable-next-line no-console
    console.log(`tuned: latency ratio median ${best.ratio.toFixed(3)} (range ${best.min.toFixed(3)}..${best.max.toFixed(3)} over 5 mc eval runs), top-1 ${best.top1} (float ${float})`);
    expect(best.ratio).toBeLessThanOrEqual(BUDGET);
    // Uniform: every layer the same share of its filters, 1/16 steps, least pruning first.
    const rows: string[] = [];
    let match: { s: number; t: Timed } | null = null;
    for (let k = 1; k <= 15 && !match; k++) {
      const s = k / 16;
      const f = path.join(dir, `uniform-${k}.onnx`);
      const p = runMc(['prune', CNN, '--pattern', 'channel', '--sparsity', String(s), '-o', f]);
      expect(p.code).toBe(0);
      const t = timed(f, 3);
      rows.push(`${s}: ratio ${t.ratio.toFixed(3)} (${t.min.toFixed(3)}..${t.max.toFixed(3)}), top-1 ${t.top1}`);
      if (t.ratio <= best.ratio) match = { s, t };
    }
    // eslint-disable-next-line no-console
    console.log(`uniform channel pruning (median of 3 mc eval runs each):\n${rows.join('\n')}`);
    // Up to 15/16 of the filters cut, some uniform plan must be as fast, or the comparison cannot be made.
    expect(match).not.toBeNull();
    expect(best.top1).toBeGreaterThan(match!.t.top1);
  });
});
