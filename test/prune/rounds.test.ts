/**
 * Multi-round channel pruning (pruneInRounds / ChannelRounds) on the small IR CNN:
 * per-round quotas, exact final counts, k = 1 equals the one-shot pass, scorers
 * see the shrunk model, option checks.
 */
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import type { Model, Value } from '../../src/ir';
import { runPass } from '../../src/passes/pass';
import {
  channelNorms, PRUNE_DEFAULTS, prunePass, pruneInRounds, validatePruneOptions,
  type PruneOptions, type PruneTarget, type ScoreMap, type TargetScores,
} from '../../src/passes/prune';
import { UsageError } from '../../src/errors';
import { parsePruneFlags } from '../../src/cli/commands/prune';
import { buildCnn } from './cnn';

const CTX = { toolVersion: 'test' };
const fresh = (): Model => decodeOnnx(encodeOnnx(buildCnn({ c1: 8, c2: 16, hidden: 32 })));
/** Saliency channel options; the tests' scorers stand in for the gradients. */
const opts = (o: Partial<PruneOptions>): PruneOptions => ({ ...PRUNE_DEFAULTS, sparsity: 0.5, criterion: 'saliency', pattern: 'channel', ...o });

/** L2 filter norms of the model as it is now, recording the channel counts each round saw. */
function normScorer(seen: number[][]) {
  return async (_m: Model, targets: readonly PruneTarget[]): Promise<ScoreMap> => {
    seen.push(targets.map((t) => t.value.const!.shape[t.outAxis]));
    return new Map<Value, TargetScores>(targets.map((t) => [t.value, { channel: channelNorms(t.value.const!.toFloat32(), t.value.const!.shape, t.outAxis) }]));
  };
}

describe('pruneInRounds', () => {
  test('layer scope, 4 rounds: cumulative round(F*r/k) per layer, final round(s*C), scorers see the shrunk model', async () => {
    const m = fresh();
    const seen: number[][] = [];
    const { changes } = await pruneInRounds(m, opts({ sparsity: 0.5, rounds: 4 }), normScorer(seen), CTX);
    // conv1 8 ch (F=4), conv2 16 (F=8), fc1 32 (F=16); fc2 feeds the graph output and is skipped.
    expect(seen).toEqual([[8, 16, 32], [7, 14, 28], [6, 12, 24], [5, 10, 20]]);
    expect(changes.rounds).toBe(4);
    expect(changes.layers.map((l) => [l.layer, l.channelsRemoved, l.channels, l.newShape[0]])).toEqual([
      ['conv1', 4, 8, 4], ['conv2', 8, 16, 8], ['fc1', 16, 32, 16],
    ]);
    expect(changes.skipped.map((s) => s.layer)).toEqual(['fc2']);
    // Reported against the original shapes: conv2 lost half its filters and half its inputs.
    const conv2 = changes.layers[1];
    expect(conv2.shape).toEqual([16, 8, 3, 3]);
    expect(conv2.newShape).toEqual([8, 4, 3, 3]);
    expect(conv2.zeros).toBe(16 * 8 * 9 - 8 * 4 * 9);
  });

  test('odd counts: 3 rounds of round(0.3*C) still end at exactly round(0.3*C)', async () => {
    const m = fresh();
    const seen: number[][] = [];
    const { changes } = await pruneInRounds(m, opts({ sparsity: 0.3, rounds: 3 }), normScorer(seen), CTX);
    // F = round(2.4)=2, round(4.8)=5, round(9.6)=10; after r: round(F*r/3).
    expect(seen).toEqual([[8, 16, 32], [7, 14, 29], [7, 13, 25]]);
    expect(changes.layers.map((l) => l.channelsRemoved)).toEqual([2, 5, 10]);
  });

  test('k = 1 is exactly the one-shot pass (same bytes out)', async () => {
    for (const scope of ['layer', 'global'] as const) {
      const a = fresh();
      const b = fresh();
      await pruneInRounds(a, opts({ rounds: 1, scope, sparsity: 0.4 }), normScorer([]), CTX);
      runPass(prunePass(opts({ rounds: 1, scope, sparsity: 0.4 })), b, CTX);
      expect(Buffer.from(encodeOnnx(a)).equals(Buffer.from(encodeOnnx(b)))).toBe(true);
    }
  });

  test('global scope: the one-shot total, min-density floors kept in every round', async () => {
    const m = fresh();
    const { changes } = await pruneInRounds(m, opts({ scope: 'global', sparsity: 0.6, minDensity: 0.5, rounds: 3 }), normScorer([]), CTX);
    // Total 56 channels → round(33.6) = 34 wanted, but the floors allow only 4 + 8 + 16 = 28.
    expect(changes.layers.reduce((t, l) => t + l.channelsRemoved!, 0)).toBe(28);
    for (const l of changes.layers) expect(l.channels! - l.channelsRemoved!).toBeGreaterThanOrEqual(Math.ceil(0.5 * l.channels!));
  });

  test('a scorer with the wrong number of scores is an error naming the layer', async () => {
    const bad = async (_m: Model, targets: readonly PruneTarget[]): Promise<ScoreMap> =>
      new Map<Value, TargetScores>(targets.map((t) => [t.value, { channel: new Float64Array(3) }]));
    await expect(pruneInRounds(fresh(), opts({ rounds: 2 }), bad, CTX)).rejects.toThrow(/prune: layer 'conv1': 3 scores for 8 channels/);
  });
});

describe('rounds options', () => {
  test.each([
    [{ rounds: 0 }, /--rounds must be a whole number ≥ 1/],
    [{ rounds: 1.5 }, /--rounds must be a whole number ≥ 1/],
    [{ rounds: 2, criterion: 'magnitude' as const }, /--criterion saliency --pattern channel only/],
    [{ rounds: 2, criterion: 'saliency' as const, pattern: 'unstructured' as const }, /--criterion saliency --pattern channel only/],
  ])('%j is a UsageError', (o, message) => {
    expect(() => validatePruneOptions(opts(o))).toThrow(UsageError);
    expect(() => validatePruneOptions(opts(o))).toThrow(message);
  });

  test('the one-shot pass refuses more than one round', () => {
    expect(() => runPass(prunePass(opts({ criterion: 'saliency' })), fresh(), CTX)).toThrow(/runs one round, not 4/);
  });

  test.each([
    [{ criterion: 'saliency', pattern: 'channel', data: 'x.npy' }, 4],
    [{ criterion: 'saliency', pattern: 'channel', data: 'x.npy', rounds: '2' }, 2],
    [{ criterion: 'saliency', pattern: 'unstructured', data: 'x.npy' }, 1],
    [{ criterion: 'magnitude', pattern: 'channel' }, 1],
  ])('flags %j → rounds %p', (flags, rounds) => {
    expect(parsePruneFlags('m.onnx', { sparsity: '0.5', ...flags }).prune.rounds).toBe(rounds);
  });

  test.each([['0'], ['-1'], ['2.5'], ['x']])('--rounds %s is refused', (k) => {
    expect(() => parsePruneFlags('m.onnx', { sparsity: '0.5', criterion: 'saliency', pattern: 'channel', data: 'x.npy', rounds: k })).toThrow(/--rounds must be a whole number ≥ 1/);
  });
});
