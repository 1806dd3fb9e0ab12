/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Pruners ask the dependency graph for groups: a group's channel score is the sum
 * of its layers' scores, whatever the criterion. Checked with a scorer written here
 * (the rounds interface) and with Taylor saliency from gradients, on a residual
 * block whose two convs share their output channels.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '../../src/data';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { intsAttr, type Model, type Value } from '../../src/ir';
import { PRUNE_DEFAULTS, pruneInRounds, saliencyScores, type PruneOptions, type PruneTarget, type ScoreMap, type TargetScores } from '../../src/passes/prune';
import { useGradientBackend } from '../../src/runtime/executor';
import { floats } from '../helpers/onnx-build';
import { npyHeader, tmpDir } from '../data/helpers';
import { initializer, keptSlices, maxAbs, maxAbsDiff, Net, removedOf, run, zeroSlices } from '../graph/net';

const CTX = { toolVersion: 'test' };
const opts = (o: Partial<PruneOptions>): PruneOptions => ({ ...PRUNE_DEFAULTS, sparsity: 0.5, pattern: 'channel', criterion: 'saliency', ...o });
const copy = (m: Model): Model => decodeOnnx(encodeOnnx(m));
const W = (m: Model, name: string) => initializer(m, name).const!;

/** x → A → Relu = a; a → B → b; Relu(a + b) → C → GlobalAveragePool → Flatten → Gemm (10 classes). */
function residual(): Model {
  const n = new Net();
  const x = n.input('x', ['N' as unknown as number, 3, 6, 6]);
  const pads = [intsAttr('pads', [1, 1, 1, 1])];
  const a = n.op('Relu', [n.op('Conv', [x, n.w('A.w', [6, 3, 3, 3]), n.w('A.b', [6], 0.2)], pads, 'A')]);
  const b = n.op('Conv', [a, n.w('B.w', [6, 6, 3, 3], 0.3), n.w('B.b', [6], 0.2)], pads, 'B');
  const c = n.op('Relu', [n.op('Conv', [n.op('Relu', [n.op('Add', [a, b])]), n.w('C.w', [8, 6, 1, 1]), n.w('C.b', [8], 0.2)], [], 'C')]);
  const g = n.op('Flatten', [n.op('GlobalAveragePool', [c])]);
  n.output(n.op('Gemm', [g, n.w('head.w', [8, 10]), n.w('head.b', [10], 0.1)], [], 'head'));
  return n.model;
}

test('a scorer\'s per-layer scores are summed per group channel; the lowest sums go', async () => {
  const m = copy(residual());
  const given = new Map<string, number[]>([['A', [5, 1, 4, 0, 3, 9]], ['B', [0, 2, 4, 1, 0, 0]], ['C', [8, 7, 6, 5, 4, 3, 2, 1]]]);
  const seen: string[][] = [];
  const scorer = async (_m: Model, targets: readonly PruneTarget[]): Promise<ScoreMap> => {
    seen.push(targets.map((t) => t.layer));
    return new Map<Value, TargetScores>(targets.map((t) => [t.value, { channel: Float64Array.from(given.get(t.layer)!.slice(0, t.value.const!.shape[0])) }]));
  };
  const { changes } = await pruneInRounds(m, opts({ rounds: 1 }), scorer, CTX);
  expect(seen).toEqual([['A', 'B', 'C']]);
  // Sums A+B: [5, 3, 8, 1, 3, 9] → remove 3 lowest: 3 (1), 1 (3), 4 (3; tie broken by index).
  expect(removedOf(keptSlices(W(residual(), 'A.w'), W(m, 'A.w')), 6)).toEqual([1, 3, 4]);
  expect(removedOf(keptSlices(W(residual(), 'B.b'), W(m, 'B.b')), 6)).toEqual([1, 3, 4]);
  expect(removedOf(keptSlices(W(residual(), 'C.b'), W(m, 'C.b')), 8)).toEqual([4, 5, 6, 7]);
  expect(changes.groups!.map((g) => [g.layers, g.channels, g.removed])).toEqual([[['A', 'B'], 6, 3], [['C'], 8, 4], [['head'], 10, 0]]);
});

test('Taylor saliency channel pruning in 2 rounds on the residual block: pruned = original with consumers zeroed', async () => {
  await useGradientBackend(tf, 'wasm');
  const dir = tmpDir('mc-groups-');
  const file = path.join(dir, 'x.npy');
  const xs = floats(16 * 3 * 6 * 6, 5);
  fs.writeFileSync(file, Buffer.concat([npyHeader('<f4', [16, 3, 6, 6]), Buffer.from(xs.buffer)]));
  const orig = residual();
  const m = copy(orig);
  const inputs = [{ name: 'x', dtype: 'float32' as const, shape: ['N', 3, 6, 6] }];
  const score = (mm: Model, targets: readonly PruneTarget[]) => saliencyScores(mm, targets, { tf, data: openDataset(file, { inputs }), samples: 16, batchSize: 8, channel: true });
  const { changes } = await pruneInRounds(m, opts({ rounds: 2 }), score, CTX);
  expect(changes.groups!.slice(0, 2).map((g) => [g.layers, g.removed])).toEqual([[['A', 'B'], 3], [['C'], 4]]);
  const rAB = removedOf(keptSlices(W(orig, 'A.b'), W(m, 'A.b')), 6);
  expect(removedOf(keptSlices(W(orig, 'B.b'), W(m, 'B.b')), 6)).toEqual(rAB);
  const ref = copy(orig);
  zeroSlices(initializer(ref, 'B.w'), 1, rAB);
  zeroSlices(initializer(ref, 'C.w'), 1, rAB);
  zeroSlices(initializer(ref, 'head.w'), 0, removedOf(keptSlices(W(orig, 'C.b'), W(m, 'C.b')), 8));
  const x = xs.subarray(0, 4 * 108);
  const [p, r] = [await run(m, x, [4, 3, 6, 6]), await run(ref, x, [4, 3, 6, 6])];
  expect(maxAbs(r)).toBeGreaterThan(1e-2);
  expect(maxAbsDiff(p, r)).toBeLessThan(1e-5);
});
