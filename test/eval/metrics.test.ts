import { AccuracyAccumulator, FidelityAccumulator, checkBudgets, pickMetric, type EvalReport } from '../../src/eval';
import { quantile } from '../../src/eval/stats';
import type { HostTensor } from '../../src/runtime';

const f32 = (shape: number[], values: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
const i64 = (shape: number[], values: number[]): HostTensor => ({ dtype: 'int64', shape, data: BigInt64Array.from(values.map(BigInt)) });

describe('accuracy', () => {
  test('top-1 and top-5 count ties like a stable descending sort', () => {
    // 6 classes. Row 0: label 2 is the max → top1. Row 1: label 5 ties with classes 0..4 at 0 → rank 5 → not top-5.
    // Row 2: label 0 ties with everything → rank 0 → top1 (argmax picks the first).
    const out = f32([3, 6], [0, 1, 9, 2, 3, 4, /* */ 0, 0, 0, 0, 0, 0, /* */ 7, 7, 7, 7, 7, 7]);
    const acc = new AccuracyAccumulator('top1', 'y');
    acc.add(out, i64([3], [2, 5, 0]));
    const r = acc.report();
    expect(r.top1).toBeCloseTo(2 / 3, 12);
    expect(r.top5).toBeCloseTo(2 / 3, 12);
    expect(r.samples).toBe(3);
  });

  test('perplexity is exp(mean NLL) and stays finite for huge logits', () => {
    const logits = [1, 2, 3, 0.5, -1, 4, /* token 2 */ 0, 0, 0, 10, 1, 2];
    const labels = [2, 0];
    const acc = new AccuracyAccumulator('perplexity', 'y');
    acc.add(f32([1, 2, 6], logits), i64([1, 2], labels));
    // Independent oracle: naive softmax in float64 (safe for these small logits).
    let nll = 0;
    for (let t = 0; t < 2; t++) {
      const row = logits.slice(t * 6, t * 6 + 6);
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      nll += -Math.log(Math.exp(row[labels[t]]) / z);
    }
    expect(acc.report().perplexity).toBeCloseTo(Math.exp(nll / 2), 10);

    // Shifting logits by a constant leaves softmax unchanged; naive exp(1000) would overflow.
    const shifted = new AccuracyAccumulator('perplexity', 'y');
    shifted.add(f32([1, 2, 6], logits.map((v) => v + 1000)), i64([1, 2], labels));
    expect(shifted.report().perplexity).toBeCloseTo(Math.exp(nll / 2), 3);
  });

  test('mse, and labels below 0 are ignored by perplexity', () => {
    const acc = new AccuracyAccumulator('mse', 'y');
    acc.add(f32([2, 2], [1, 2, 3, 4]), f32([2, 2], [1, 0, 3, 1]));
    expect(acc.report().mse).toBeCloseTo((4 + 9) / 4, 12);
    const p = new AccuracyAccumulator('perplexity', 'y');
    p.add(f32([1, 2, 2], [0, 0, 5, 5]), i64([1, 2], [1, -100]));
    expect(p.report().perplexity).toBeCloseTo(2, 12);
  });

  test('metric is picked from output and label shapes', () => {
    expect(pickMetric([8, 10], 'int64', [8], 'y')).toBe('top1');
    expect(pickMetric([8, 5, 100], 'int32', [8, 5], 'y')).toBe('perplexity');
    expect(pickMetric([8, 3], 'float32', [8, 3], 'y')).toBe('mse');
    expect(() => pickMetric([8, 3], 'float32', [8, 4], 'y.npy')).toThrow(/y\.npy: cannot tell which metric/);
  });
});

describe('fidelity', () => {
  test('SQNR, cosine, max error and agreement accumulate over batches', () => {
    const fid = new FidelityAccumulator(['y']);
    const ref1 = [3, 1, 0, 2];
    const cand1 = [2.5, 1, 0, 2.5];
    const ref2 = [1, 4];
    const cand2 = [1, 3];
    fid.addOutputs(new Map([['y', f32([2, 2], ref1)]]), new Map([['y', f32([2, 2], cand1)]]), 2);
    fid.addOutputs(new Map([['y', f32([1, 2], ref2)]]), new Map([['y', f32([1, 2], cand2)]]), 1);
    const r = fid.report(false);
    const ref = [...ref1, ...ref2];
    const cand = [...cand1, ...cand2];
    const s2 = ref.reduce((s, v) => s + v * v, 0);
    const e2 = ref.reduce((s, v, i) => s + (v - cand[i]) ** 2, 0);
    expect(r.sqnrDb).toBeCloseTo(10 * Math.log10(s2 / e2), 10);
    const dot = ref.reduce((s, v, i) => s + v * cand[i], 0);
    const c2 = cand.reduce((s, v) => s + v * v, 0);
    expect(r.cosine).toBeCloseTo(dot / Math.sqrt(s2 * c2), 10);
    expect(r.maxAbsError).toBeCloseTo(1, 12);
    // rows: [3,1]→0 vs [2.5,1]→0 agree; [0,2]→1 vs [0,2.5]→1 agree; [1,4]→1 vs [1,3]→1 agree.
    expect(r.top1Agreement).toBe(1);
    expect(r.samples).toBe(3);
  });

  test('identical outputs report SQNR null (infinite)', () => {
    const fid = new FidelityAccumulator(['y']);
    const t = f32([1, 3], [1, 2, 3]);
    fid.addOutputs(new Map([['y', t]]), new Map([['y', t]]), 1);
    expect(fid.report(false).sqnrDb).toBeNull();
  });
});

test('quantile interpolates linearly between ranks (numpy default)', () => {
  // numpy.percentile([1,2,3,4,10], 90) == 7.6; median of [4,1,3,2] == 2.5
  expect(quantile([1, 2, 3, 4, 10], 0.9)).toBeCloseTo(7.6, 12);
  expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
});

test('budgets: limits are inclusive, null SQNR passes any minimum, min/max directions', () => {
  const report = {
    candidate: { fidelity: { top1Agreement: 0.97, sqnrDb: null, outputs: [] }, accuracy: { metric: 'top1' } },
    delta: { sizeRatio: 0.25, latencyRatio: 1.3, accuracyTop1Points: 0.5 },
  } as unknown as EvalReport;
  const r = checkBudgets(report, { maxSizeRatio: 0.25, maxLatencyRatio: 1.2, minAgreement: 0.98, minSqnr: 40, maxAccuracyDrop: 1 });
  expect(r.map((b) => [b.name, b.passed, b.value])).toEqual([
    ['max-accuracy-drop', true, 0.5],
    ['min-agreement', false, 0.97],
    ['min-sqnr', true, null],
    ['max-size-ratio', true, 0.25],
    ['max-latency-ratio', false, 1.3],
  ]);
});
