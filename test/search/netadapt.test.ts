/**
 * NetAdapt's loop (src/search/netadapt.ts) on synthetic problems where every
 * number is known: a plan's loss is Σ loss[l][rung], and its latency, as the
 * fake meter measures it, is 1 + Σ (lat[l][rung] − 1) + `bias` (bias > 0: the
 * table is optimistic, as it is when a layer and its consumer are both cut).
 * The checks are transcriptions of the algorithm: each iteration's proposals
 * are recomputed from the table, the kept one is the least loss, and the
 * answer's measured latency meets the budget (or the result says it does not).
 */
import type { LatencyEntry, LatencyMeter } from '../../src/search/latency-table';
import { netadapt } from '../../src/search/netadapt';
import { assignmentKey } from '../../src/search/space';
import type { Trials } from '../../src/search/trials';
import type { Assignment, Dimension, TrialRecord } from '../../src/search/types';
import { mulberry32 } from '../../src/util/prng';

// Rungs most aggressive first: 3/4, 1/2, 1/4 of the filters cut, dense.
const dims: Dimension[] = [{ name: 'channels', rungs: [0.75, 0.5, 0.25, 0] }];

interface Problem { lat: number[][]; loss: number[][]; bias: number }

class Losses implements Trials {
  readonly trials: TrialRecord[] = [];
  private readonly of = new Map<string, Assignment>();
  constructor(private readonly p: Problem) {}
  async run(a: Assignment, phase: TrialRecord['phase'], scope: 'all' | 'subset'): Promise<TrialRecord> {
    const key = `${scope}:${assignmentKey(a)}`;
    const value = a.reduce((s, row, l) => s + this.p.loss[l][row[0]], 0);
    const r: TrialRecord = {
      type: 'trial', id: this.trials.length, key, phase, scope, plan: {}, value, slack: 100 - value, passed: true,
      weightBytes: 0, fileBytes: 0, gzipBytes: 0, sqnrDb: null, metric: null, ms: 0,
    };
    this.trials.push(r);
    this.of.set(key, a.map((x) => [...x]));
    return r;
  }
  async runMany(list: readonly Assignment[], phase: TrialRecord['phase'], scope: 'all' | 'subset'): Promise<TrialRecord[]> {
    const out: TrialRecord[] = [];
    for (const a of list) out.push(await this.run(a, phase, scope));
    return out;
  }
  size(): number { return 0; }
  cost(r: TrialRecord): number { return r.value!; }
  assignmentOf(r: TrialRecord): Assignment { return this.of.get(r.key)!; }
}

function tableEstimate(p: Problem, a: Assignment): number {
  return 1 + a.reduce((s, row, l) => s + p.lat[l][row[0]] - 1, 0);
}

/** What the fake meter measures: the table's own entries (one layer cut) are exact; a plan cutting two or more carries the bias. */
function trueLatency(p: Problem, a: Assignment): number {
  const single = a.filter((row) => row[0] !== dims[0].rungs.length - 1).length <= 1;
  return tableEstimate(p, a) + (single ? 0 : p.bias);
}

function fakeMeter(p: Problem): LatencyMeter {
  const measure = async (a: Assignment): Promise<LatencyEntry> => {
    const ratio = trueLatency(p, a);
    return { ratio, spread: 0, max: ratio, high: ratio, ms: ratio, floatMs: 1 };
  };
  return { settings: { runs: 1, repeats: 1, batchSize: 1 }, measure } as unknown as LatencyMeter;
}

function randomProblem(seed: number, layers: number, bias: number): Problem {
  const rnd = mulberry32(seed);
  const lat: number[][] = [];
  const loss: number[][] = [];
  for (let l = 0; l < layers; l++) {
    // Each layer's share of the time, cut in steps (not monotone, as onnxruntime's kernels are not).
    const share = 0.1 + 0.3 * rnd();
    lat.push([1 - share * (0.6 + 0.3 * rnd()), 1 - share * (0.3 + 0.4 * rnd()), 1 - share * 0.3 * rnd(), 1]);
    const s = 5 * rnd();
    loss.push([s * 4, s * 2, s * 0.5, 0]);
  }
  return { lat, loss, bias };
}

async function solve(p: Problem, budget: number): Promise<{ r: Awaited<ReturnType<typeof netadapt>>; trials: Losses }> {
  const layers = p.lat.map((_, i) => `w${i}`);
  const trials = new Losses(p);
  const r = await netadapt(trials, fakeMeter(p), { layers, dims, maxLatencyRatio: budget, iterations: 4, scope: 'all', maxChecks: 4 });
  return { r, trials };
}

test('each iteration proposes, per layer, the fewest filters cut that meet its target, and keeps the least loss', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const p = randomProblem(seed, 4, 0);
    const { r } = await solve(p, 0.7);
    let a: Assignment = p.lat.map(() => [3]);
    for (const it of r.iterations) {
      // Transcription: for each layer, walk down from its rung; the first rung at or under the target, else the deepest.
      const expected: { layer: string; rung: number; loss: number; est: number; b: Assignment }[] = [];
      a.forEach((row, l) => {
        let pick = -1;
        for (let k = row[0] - 1; k >= 0; k--) {
          pick = k;
          const b = a.map((x) => [...x]);
          b[l][0] = k;
          if (tableEstimate(p, b) <= it.target) break;
        }
        if (pick < 0) return;
        const b = a.map((x) => [...x]);
        b[l][0] = pick;
        expected.push({ layer: `w${l}`, rung: dims[0].rungs[pick] as number, loss: b.reduce((s, x, j) => s + p.loss[j][x[0]], 0), est: tableEstimate(p, b), b });
      });
      expect(it.proposals.map((x) => [x.layer, x.rung])).toEqual(expected.map((x) => [x.layer, x.rung]));
      if (it.kept === null) break;
      const least = Math.min(...expected.map((x) => x.loss));
      expect(expected[it.kept].loss).toBeCloseTo(least, 12);
      a = expected[it.kept].b;
    }
    expect(r.assignment).toEqual(a);
  }
});

test('the answer meets the budget as measured end to end; an optimistic table makes it go further', async () => {
  let tightened = 0;
  for (let seed = 1; seed <= 30; seed++) {
    for (const bias of [0, 0.04]) {
      const p = randomProblem(seed, 4, bias);
      const { r } = await solve(p, 0.75);
      const measured = trueLatency(p, r.assignment);
      const deepest = tableEstimate(p, p.lat.map(() => [0])) + bias;
      if (r.met) expect(measured).toBeLessThanOrEqual(0.75 + 1e-12);
      // Missed only when even the deepest cut everywhere misses, or the checks ran out.
      else expect(deepest > 0.75 || r.checks.length === 4).toBe(true);
      if (bias > 0 && r.checks.length > 1) tightened++;
      expect(r.checks[r.checks.length - 1].ratio).toBeCloseTo(measured, 12);
    }
  }
  // The bias is large enough that some searches needed a second check.
  expect(tightened).toBeGreaterThan(0);
});

test('an unreachable budget: not met, the closest plan returned with its measured latency', async () => {
  const p = randomProblem(7, 3, 0);
  const { r } = await solve(p, 0.05);
  expect(r.met).toBe(false);
  expect(r.checks.length).toBeGreaterThan(0);
  expect(r.checks[r.checks.length - 1].ratio).toBeGreaterThan(0.05);
});
