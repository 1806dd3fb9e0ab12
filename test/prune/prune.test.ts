/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
import * as ort from 'onnxruntime-node';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import type { Model } from '../../src/ir';
import { runPass } from '../../src/passes/pass';
import { countMacs, findTargets, PRUNE_DEFAULTS, prunePass, type PruneChanges, type PruneOptions } from '../../src/passes/prune';
import { UsageError } from '../../src/errors';
import { buildCnn, inputBatch } from './cnn';

const CTX = { toolVersion: 'test' };
const fresh = (): Model => decodeOnnx(encodeOnnx(buildCnn({ c1: 8, c2: 16, hidden: 32 })));
const opts = (o: Partial<PruneOptions>): PruneOptions => ({ ...PRUNE_DEFAULTS, sparsity: 0.5, ...o });
const prune = (m: Model, o: Partial<PruneOptions>): PruneChanges => runPass(prunePass(opts(o)), m, CTX).changes;
const weightsOf = (m: Model): Map<string, Float32Array> => new Map(findTargets(m, []).targets.map((t) => [t.layer, Float32Array.from(t.value.const!.toFloat32())]));

async function runOrt(m: Model, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeOnnx(m));
  try {
    const out = await s.run({ x: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
    return Float32Array.from(out[s.outputNames[0]].data as Float32Array);
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('magnitude, unstructured, layer scope', () => {
  test('zeros exactly round(s*n) per layer, the same set as a reference ranking', async () => {
    const m = fresh();
    const orig = weightsOf(m);
    const rep = prune(m, { sparsity: 0.5 });
    const after = weightsOf(m);
    expect(rep.layers.map((l) => l.layer)).toEqual(['conv1', 'conv2', 'fc1', 'fc2']);
    for (const [layer, w] of orig) {
      // Reference: indices sorted by |w| (ties by index), the lowest half zeroed.
      const idx = [...w.keys()].sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]) || a - b);
      const k = Math.round(0.5 * w.length);
      const ref = Float32Array.from(w);
      for (const i of idx.slice(0, k)) ref[i] = 0;
      expect(Array.from(after.get(layer)!)).toEqual(Array.from(ref));
      expect(after.get(layer)!.filter((v) => v === 0).length).toBe(k);
      expect(rep.layers.find((l) => l.layer === layer)!.zeros).toBe(k);
    }
    expect(rep.globalSparsity).toBeCloseTo(0.5, 3);
    // The output runs in onnxruntime and differs from the dense model (it was really pruned).
    const x = inputBatch(4);
    const y = await runOrt(m, x, 4);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(y, await runOrt(fresh(), x, 4))).toBeGreaterThan(1e-3);
  });

  test.each([0, 0.3, 0.9])('sparsity %p gives exact counts', (s) => {
    const m = fresh();
    const rep = prune(m, { sparsity: s });
    for (const l of rep.layers) expect(l.zeros).toBe(Math.round(s * l.params));
  });

  test('the same input gives byte-identical output', () => {
    const a = fresh();
    const b = fresh();
    prune(a, { sparsity: 0.6 });
    prune(b, { sparsity: 0.6 });
    expect(Buffer.from(encodeOnnx(a)).equals(Buffer.from(encodeOnnx(b)))).toBe(true);
  });

  test('--exclude leaves a layer dense', () => {
    const m = fresh();
    const before = weightsOf(m).get('conv1')!;
    const rep = prune(m, { exclude: ['conv*'] });
    expect(rep.layers.map((l) => l.layer)).toEqual(['fc1', 'fc2']);
    expect(Array.from(weightsOf(m).get('conv1')!)).toEqual(Array.from(before));
    expect(rep.skipped.map((s) => s.layer)).toEqual(['conv1', 'conv2']);
  });
});

describe('global scope', () => {
  test('removes round(s*N) in total and respects the min-density floor', () => {
    const m = fresh();
    const rep = prune(m, { sparsity: 0.9, scope: 'global', minDensity: 0.2 });
    const N = rep.layers.reduce((s, l) => s + l.params, 0);
    const Z = rep.layers.reduce((s, l) => s + l.zeros, 0);
    for (const l of rep.layers) expect(l.params - l.zeros).toBeGreaterThanOrEqual(Math.ceil(0.2 * l.params));
    // Exactly the target, or as close as the floors allow.
    const allowed = rep.layers.reduce((s, l) => s + l.params - Math.ceil(0.2 * l.params), 0);
    expect(Z).toBe(Math.min(Math.round(0.9 * N), allowed));
    expect(Z).toBeGreaterThan(0.75 * N);
    // Global magnitude: every surviving weight is at least as large as every zeroed one, in layers not held by their floor.
    const free = rep.layers.filter((l) => l.params - l.zeros > Math.ceil(0.2 * l.params));
    const w = weightsOf(m);
    const origW = weightsOf(fresh());
    let maxZeroed = 0;
    let minKept = Infinity;
    for (const l of free) {
      const before = origW.get(l.layer)!;
      const after = w.get(l.layer)!;
      for (let i = 0; i < before.length; i++) {
        if (after[i] === 0) maxZeroed = Math.max(maxZeroed, Math.abs(before[i]));
        else minKept = Math.min(minKept, Math.abs(before[i]));
      }
    }
    expect(maxZeroed).toBeLessThanOrEqual(minKept);
  });
});

describe('n:m', () => {
  test('2:4 along the reduction axis: exactly 2 zeros in every group of 4', () => {
    const m = fresh();
    const rep = prune(m, { pattern: 'n:m', nm: { n: 2, m: 4 }, exclude: ['conv1'] });
    expect(rep.layers.map((l) => l.layer)).toEqual(['conv2', 'fc1', 'fc2']);
    for (const t of findTargets(m, ['conv1']).targets) {
      const w = t.value.const!.toFloat32();
      const shape = t.value.const!.shape;
      const K = shape[t.inAxis];
      const inner = shape.slice(t.inAxis + 1).reduce((a, b) => a * b, 1);
      const outer = shape.slice(0, t.inAxis).reduce((a, b) => a * b, 1);
      let groups = 0;
      for (let o = 0; o < outer; o++) for (let g = 0; g < K / 4; g++) for (let r = 0; r < inner; r++) {
        let z = 0;
        for (let j = 0; j < 4; j++) if (w[(o * K + g * 4 + j) * inner + r] === 0) z++;
        expect(z).toBe(2);
        groups++;
      }
      expect(groups * 4).toBe(w.length);
      expect(rep.layers.find((l) => l.layer === t.layer)!.sparsity).toBe(0.5);
    }
  });

  test('a reduction size not divisible by m is a UsageError naming the layer', () => {
    expect(() => prune(fresh(), { pattern: 'n:m', nm: { n: 2, m: 4 } })).toThrow(UsageError);
    expect(() => prune(fresh(), { pattern: 'n:m', nm: { n: 2, m: 4 } })).toThrow(/layer 'conv1': reduction size 1/);
  });
});

describe('channel (structured)', () => {
  test('25%: removes whole channels, shrinks every coupled tensor, and equals the model with those channels zeroed', async () => {
    const m = fresh();
    const rep = prune(m, { sparsity: 0.25, pattern: 'channel' });
    expect(rep.skipped).toEqual([{ layer: 'fc2', reason: "its channels reach graph output 'fc2_out'" }]);
    const byLayer = new Map(rep.layers.map((l) => [l.layer, l]));
    expect(byLayer.get('conv1')!.newShape).toEqual([6, 1, 3, 3]);
    expect(byLayer.get('conv2')!.newShape).toEqual([12, 6, 3, 3]);
    expect(byLayer.get('fc1')!.newShape).toEqual([24, 12 * 25]);
    const t = new Map(m.graph.initializers.map((v) => [v.name, v.const!.shape]));
    expect(t.get('conv1.b')).toEqual([6]);
    expect(t.get('conv2.b')).toEqual([12]);
    expect(t.get('fc1.b')).toEqual([24]);
    expect(t.get('fc2.w')).toEqual([24, 10]);

    // Reference: the dense model with the same filters (and biases) zeroed. ReLU(0) = 0 and
    // MaxPool of zeros is 0, so a zeroed channel contributes nothing downstream.
    const ref = fresh();
    const removed = removedChannels(fresh(), m);
    for (const v of ref.graph.initializers) {
      const layer = v.name.split('.')[0];
      const drop = removed.get(layer);
      if (!drop) continue;
      const w = Float32Array.from(v.const!.toFloat32());
      const per = w.length / v.const!.shape[0];
      for (const c of drop) w.fill(0, c * per, (c + 1) * per);
      v.const!.setData('float32', [...v.const!.shape], { kind: 'bytes', bytes: new Uint8Array(w.buffer) });
    }
    const x = inputBatch(8);
    expect(maxAbsDiff(await runOrt(m, x, 8), await runOrt(ref, x, 8))).toBeLessThan(1e-4);

    // Fewer MACs: computed from shapes.
    const shapesKnown = (mm: Model) => countMacs(mm, (v) => (v.name.startsWith('conv1') ? [1, 0, 26, 26] : v.name.startsWith('conv2') ? [1, 0, 11, 11] : [1, 0]));
    expect(shapesKnown(m)!).toBeLessThan(0.65 * shapesKnown(fresh())!);
  });

  test('removed channels are the smallest-L2 filters', () => {
    const orig = fresh();
    const m = fresh();
    prune(m, { sparsity: 0.5, pattern: 'channel' });
    const removed = removedChannels(orig, m);
    const w = orig.graph.initializers.find((v) => v.name === 'conv2.w')!.const!.toFloat32();
    const per = w.length / 16;
    const norms = Array.from({ length: 16 }, (_, c) => Math.hypot(...w.subarray(c * per, (c + 1) * per)));
    const expected = [...norms.keys()].sort((a, b) => norms[a] - norms[b] || a - b).slice(0, 8).sort((a, b) => a - b);
    expect(removed.get('conv2')).toEqual(expected);
  });
});

/** Which output channels of each layer disappeared, found by matching bias values of the pruned model to the original. */
function removedChannels(orig: Model, pruned: Model): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const layer of ['conv1', 'conv2', 'fc1']) {
    const a = Array.from(orig.graph.initializers.find((v) => v.name === `${layer}.b`)!.const!.toFloat32());
    const b = Array.from(pruned.graph.initializers.find((v) => v.name === `${layer}.b`)!.const!.toFloat32());
    out.set(layer, a.map((v, i) => (b.includes(v) ? -1 : i)).filter((i) => i >= 0));
  }
  return out;
}

describe('bad input', () => {
  test.each([1, -0.1, 1.5, NaN])('sparsity %p is a UsageError', (s) => {
    expect(() => prune(fresh(), { sparsity: s })).toThrow(UsageError);
  });
});
