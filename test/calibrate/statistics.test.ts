/**
 * One statistics pass serves every calibration method: the ranges derived from
 * collectStatistics (all kinds, one run of the model) are IDENTICAL (Object.is)
 * to those of a separate calibrate() run per method. Separately, the
 * statistics themselves are checked against numpy (/usr/bin/python3) on the
 * raw data: per-batch min/max, the histograms (histogram.ts transcribed in
 * numpy: window, growth, counts), and the percentile range (transcribed, and
 * within one bin of the order statistic x₍⌈q·n⌉₎ numpy sorts out).
 * Sinks see every batch with its shape.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ActivationSink, calibrate, CALIBRATION_METHODS, collectStatistics, rangesFrom } from '../../src/calibrate';
import { loadOnnx } from '../../src/formats/onnx';
import { Graph, Model, Node, Value } from '../../src/ir';
import { laplace, writeNpy } from './helpers';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const PY = '/usr/bin/python3';
const R = { percentile: 99.9, qmin: -128, qmax: 127 };

function identityModel(features: number): Model {
  const g = new Graph();
  g.name = 'identity';
  const x = new Value('x', { dtype: 'float32', shape: ['N', features] });
  const y = new Value('y', { dtype: 'float32', shape: ['N', features] });
  const h = new Value('h');
  g.inputs.push(x);
  g.addNode(new Node({ opType: 'Neg', name: 'neg', inputs: [x], outputs: [h] }));
  g.addNode(new Node({ opType: 'Neg', name: 'neg2', inputs: [h], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

describe('calibration statistics', () => {
  const model = loadOnnx(path.join(FIX, 'cnn.onnx'));
  const tensors = ['input', ...model.graph.nodes.flatMap((n) => n.outputs.map((o) => o.name))];
  const data = path.join(FIX, 'calib-x.npy');

  test('one pass gives every method the ranges of a separate run, bit for bit', async () => {
    const opts = { batchSize: 16, samples: 200, threads: 1 };
    const stats = await collectStatistics(model, tensors, data, opts);
    expect(stats.kinds).toEqual(['range', 'signed', 'abs']);
    expect(stats.batches).toBe(13);
    const cases = [...CALIBRATION_METHODS.map((m) => ({ method: m, movingAverage: undefined as number | undefined })), { method: 'minmax' as const, movingAverage: 0.01 }];
    for (const c of cases) {
      const alone = await calibrate(model, tensors, data, { ...opts, ...R, method: c.method, movingAverage: c.movingAverage });
      const derived = rangesFrom(stats, c.method, { ...R, movingAverage: c.movingAverage });
      expect([...derived.keys()]).toEqual([...alone.ranges.keys()]);
      const differ = [...alone.ranges].filter(([n, r]) => !Object.is(r.min, derived.get(n)!.min) || !Object.is(r.max, derived.get(n)!.max));
      expect({ method: c.method, differ }).toEqual({ method: c.method, differ: [] });
      // Not vacuous: the methods disagree somewhere.
      if (c.method !== 'minmax') expect([...alone.ranges].some(([n, r]) => r.max !== stats.tensors.get(n)!.signed!.max)).toBe(true);
    }
  }, 120000);

  test('a method whose statistics were not gathered is refused', async () => {
    const stats = await collectStatistics(model, ['input'], data, { kinds: ['range'], samples: 32 });
    expect(() => rangesFrom(stats, 'entropy', R)).toThrow(/needs 'abs'/);
  });

  test('batch ranges, histogram counts and percentile match numpy on the raw values', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-stats-'));
    const n = 300;
    const f = 8;
    // Scale grows over the samples, so the histogram window widens (re-binning) as batches come.
    const raw = laplace(n * f, 7, 1);
    for (let i = 0; i < raw.length; i++) raw[i] *= 1 + 4 * (i / raw.length);
    const npy = path.join(dir, 'x.npy');
    writeNpy(npy, raw, [n, f]);
    const m = identityModel(f);
    const seen: { name: string; shape: number[] }[] = [];
    const sink: ActivationSink = { tensors: ['h', 'x'], observe: (name, d, shape) => { seen.push({ name, shape: [...shape] }); expect(d.length).toBe(shape.reduce((a, b) => a * b, 1)); } };
    const stats = await collectStatistics(m, ['x', 'h'], npy, { batchSize: 64, sinks: [sink] });
    expect(stats.batches).toBe(5);
    // The sink saw both tensors of every batch, with the batch axis.
    expect(seen.map((s) => `${s.name}:${s.shape.join('x')}`)).toEqual([64, 64, 64, 64, 44].flatMap((b) => [`h:${b}x8`, `x:${b}x8`]));
    for (const name of ['x', 'h']) {
      const t = stats.tensors.get(name)!;
      const pct = rangesFrom(stats, 'percentile', R).get(name)!;
      const spec = { sign: name === 'h' ? -1 : 1, batch: 64, cut: (100 - R.percentile) / 200 };
      const script = `
import json, sys, numpy as np
s = json.loads(sys.argv[2])
x = np.load(sys.argv[1]).astype(np.float64) * s['sign']
bins = 2048
def hist(mode):
    # histogram.ts transcribed: the window is set by the first batch with a non-zero value, and doubles
    # (old bins merged by floor division, clamped) until a batch fits; values binned as floor(clamp(v/w - offset)).
    w = 0.0; off = 0; counts = np.zeros(bins); mn = np.inf; mx = -np.inf; pending = 0
    for b in range(0, x.shape[0], s['batch']):
        v = x[b:b + s['batch']].ravel()
        v = np.abs(v) if mode == 'abs' else v
        mn = min(mn, v.min()); mx = max(mx, v.max())
        lo = min(mn, 0.0); hi = max(mx, 0.0)
        if hi == lo:
            pending += v.size; continue
        if w == 0:
            w = (hi - lo) / bins
            if not hi / w <= np.floor(lo / w) + bins: w = (hi - lo) / (bins - 1)
            off = int(np.floor(lo / w))
            if pending: counts[min(bins - 1, max(0, -off))] += pending
            pending = 0
        elif np.floor(lo / w) < off or not hi / w <= off + bins:
            f = 1
            while True:
                f *= 2; w *= 2; o = int(np.floor(lo / w))
                if hi / w <= o + bins: break
            new = np.zeros(bins)
            for j in np.nonzero(counts)[0]:
                new[min(bins - 1, max(0, (off + int(j)) // f - o))] += counts[j]
            counts = new; off = o
        j = np.floor(np.clip(v * (1.0 / w) - off, 0, bins - 1)).astype(np.int64)
        counts += np.bincount(j, minlength=bins)
    return w, off, counts.tolist()
ranges = []
for b in range(0, x.shape[0], s['batch']):
    c = x[b:b + s['batch']]
    ranges += [float(c.min()), float(c.max())]
# onnxruntime's MinMaxCalibrater(moving_average=True, averaging_constant=0.01): first batch, then old + c·(batch − old)
ma = ranges[:2]
for i in range(2, len(ranges), 2):
    ma = [ma[0] + 0.01 * (ranges[i] - ma[0]), ma[1] + 0.01 * (ranges[i + 1] - ma[1])]
w, off, counts = hist('signed')
aw, aoff, acounts = hist('abs')
def quantile(q):
    total = sum(counts); target = q * total; cum = 0.0
    for j, c in enumerate(counts):
        if c > 0 and cum + c >= target:
            v = (off + j) * w + w * ((target - cum) / c)
            return min(float(x.max()), max(float(x.min()), v))
        cum += c
    return float(x.max())
print(json.dumps({'ranges': ranges, 'signed': counts, 'abs': acounts, 'windows': [w, off, aw, aoff], 'minmax': [float(x.min()), float(x.max())], 'ma': ma,
  'pct': [quantile(s['cut']), quantile(1 - s['cut'])], 'np': [float(np.sort(x.ravel())[int(np.ceil(q * x.size)) - 1]) for q in (s['cut'], 1 - s['cut'])]}))
`;
      const ref = JSON.parse(execFileSync(PY, ['-c', script, npy, JSON.stringify(spec)], { encoding: 'utf8' })) as { ranges: number[]; signed: number[]; abs: number[]; windows: number[]; minmax: number[]; ma: number[]; pct: number[]; np: number[] };
      const mm = rangesFrom(stats, 'minmax', R).get(name)!;
      const ma = rangesFrom(stats, 'minmax', { ...R, movingAverage: 0.01 }).get(name)!;
      expect([mm.min, mm.max]).toEqual(ref.minmax);
      expect([ma.min, ma.max]).toEqual(ref.ma);
      expect([t.signed!.binWidth, t.signed!.offset, t.abs!.binWidth, t.abs!.offset]).toEqual(ref.windows);
      expect(t.ranges).toEqual(ref.ranges);
      expect(Array.from(t.signed!.counts)).toEqual(ref.signed);
      expect(Array.from(t.abs!.counts)).toEqual(ref.abs);
      expect([pct.min, pct.max]).toEqual(ref.pct);
      // The histogram's quantile lies in the bin of the order statistic it interpolates: within one bin of it.
      expect(Math.abs(pct.min - ref.np[0])).toBeLessThanOrEqual(t.signed!.binWidth);
      expect(Math.abs(pct.max - ref.np[1])).toBeLessThanOrEqual(t.signed!.binWidth);
      expect(t.shape).toEqual([44, 8]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
