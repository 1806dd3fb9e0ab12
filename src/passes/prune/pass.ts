import { UsageError } from '../../errors';
import type { Model } from '../../ir';
import type { Pass, PassContext, PassResult } from '../pass';
import { magnitudeTargetScores } from './magnitude';
import { ChannelRounds } from './rounds';
import { findTargets } from './targets';
import { zeroElements } from './zero';
import { lowest, pruneCount, selectGlobal, selectNM } from './select';
import { defaultRounds, type LayerReport, type PruneChanges, type PruneOptions, type PruneTarget, type ScoreMap, type TargetScores } from './types';

/** Checks option ranges; one-line UsageError on bad input. */
export function validatePruneOptions(o: PruneOptions): void {
  if (!(o.sparsity >= 0 && o.sparsity < 1)) throw new UsageError(`--sparsity must be in [0, 1), got ${o.sparsity}`);
  if (!(o.minDensity >= 0 && o.minDensity <= 1)) throw new UsageError(`--min-density must be in [0, 1], got ${o.minDensity}`);
  const { n, m } = o.nm;
  if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 0 && m >= 1 && n < m)) throw new UsageError(`--n-m must be n:m with 0 <= n < m, got ${n}:${m}`);
  const k = roundsOf(o);
  if (!(Number.isInteger(k) && k >= 1)) throw new UsageError(`--rounds must be a whole number ≥ 1, got ${k}`);
  const r = o.channelMultiple ?? 1;
  if (!(Number.isInteger(r) && r >= 1)) throw new UsageError(`--channel-multiple must be a whole number ≥ 1, got ${r}`);
  if (r > 1 && o.pattern !== 'channel') throw new UsageError('--channel-multiple is for --pattern channel');
  if (k > 1 && defaultRounds(o) === 1) throw new UsageError('--rounds above 1 is for --criterion saliency --pattern channel only (other settings score weights once)');
}

/** The rounds a run takes: `o.rounds`, else the default for its criterion and pattern. */
export function roundsOf(o: PruneOptions): number {
  return o.rounds ?? defaultRounds(o);
}

/**
 * The pruning pass, one shot. Scores come from `scores` (saliency, computed
 * beforehand from data) or from weight magnitudes. Unstructured and n:m write
 * zeros into the dense weights; channel removes channels and shrinks the graph.
 * Multi-round saliency channel pruning re-scores between rounds: `pruneInRounds`.
 */
export function prunePass(opts: PruneOptions, scores?: ScoreMap): Pass<PruneChanges> {
  return {
    name: 'prune',
    run: (model: Model, ctx: PassContext): PassResult<PruneChanges> => {
      if (roundsOf(opts) > 1) throw new UsageError(`prunePass runs one round, not ${roundsOf(opts)}; use pruneInRounds (or rounds: 1)`);
      return pruneModel(model, opts, scores, ctx);
    },
  };
}

/** Channel scores of `targets` on `model` as it is now (one per current output channel). */
export type ChannelScorer = (model: Model, targets: readonly PruneTarget[], round: number) => Promise<ScoreMap>;

/**
 * Channel pruning in `roundsOf(o)` rounds (rounds.ts): before each round `score`
 * is called on the partly pruned model. Same report as the one-shot pass, plus
 * `rounds`. Errors are prefixed with 'prune: ' as runPass does.
 */
export async function pruneInRounds(model: Model, o: PruneOptions, score: ChannelScorer, ctx: PassContext): Promise<PassResult<PruneChanges>> {
  try {
    validatePruneOptions(o);
    if (o.pattern !== 'channel') throw new UsageError(`pruneInRounds is for --pattern channel, not ${o.pattern}`);
    const { targets, skipped } = findTargets(model, o.exclude);
    const sched = new ChannelRounds(model, targets, o, roundsOf(o));
    while (sched.remaining > 0) {
      const r = sched.rounds - sched.remaining + 1;
      ctx.progress?.(`round ${r}/${sched.rounds}: scoring`);
      const scores = await score(model, sched.targets, r);
      sched.step(model, sched.targets.map((t) => channelScoresOf(t, scores)));
    }
    return finish(o, [...skipped, ...sched.skipped], sched.report(), sched.rounds, sched);
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith('prune: ')) e.message = `prune: ${e.message}`;
    throw e;
  }
}

function channelScoresOf(t: PruneTarget, scores: ScoreMap): Float64Array {
  const s = scores.get(t.value)?.channel;
  if (!s) throw new Error(`no saliency scores for layer '${t.layer}'`);
  return s;
}

function finish(o: PruneOptions, skipped: PruneChanges['skipped'], layers: LayerReport[], rounds?: number, channel?: ChannelRounds): PassResult<PruneChanges> {
  const params = layers.reduce((s, l) => s + l.params, 0);
  const zeros = layers.reduce((s, l) => s + l.zeros, 0);
  const changes: PruneChanges = {
    criterion: o.criterion, pattern: o.pattern, scope: o.scope, targetSparsity: o.sparsity, rounds,
    nm: o.pattern === 'n:m' ? o.nm : undefined, layers, skipped, globalSparsity: params ? zeros / params : 0,
  };
  if (channel) {
    const f = channel.fraction();
    changes.groups = channel.groups();
    changes.channelFraction = { requested: o.sparsity, achieved: f.channels ? f.removed / f.channels : 0, ...f };
  }
  return { modified: zeros > 0, changes };
}

function scoresFor(t: PruneTarget, channel: boolean, scores: ScoreMap | undefined): TargetScores {
  if (!scores) return magnitudeTargetScores(t, channel);
  const s = scores.get(t.value);
  if (!s || (channel ? !s.channel : !s.element)) throw new Error(`no saliency scores for layer '${t.layer}'`);
  return s;
}

function pruneModel(model: Model, o: PruneOptions, scores: ScoreMap | undefined, ctx: PassContext): PassResult<PruneChanges> {
  validatePruneOptions(o);
  if (o.criterion === 'sparsegpt') throw new UsageError('criterion sparsegpt reconstructs weights from calibration data: it runs in the pipeline (src/pipeline/sparsegpt.ts), not as the prune pass');
  // float16 weights: zeros are written in place, which only magnitude pruning of elements does.
  const float16 = o.pattern !== 'channel' && !scores && o.criterion === 'magnitude';
  const { targets, skipped } = findTargets(model, o.exclude, undefined, { float16 });
  if (o.pattern !== 'channel') return finish(o, skipped, pruneElements(targets, o, scores, ctx));
  const sched = new ChannelRounds(model, targets, o, 1);
  // Score every eligible layer before any surgery: a consumer's weights shrink when its producer is pruned.
  sched.step(model, sched.targets.map((t) => scoresFor(t, true, scores).channel!));
  return finish(o, [...skipped, ...sched.skipped], sched.report(), 1, sched);
}

function pruneElements(targets: PruneTarget[], o: PruneOptions, scores: ScoreMap | undefined, ctx: PassContext): LayerReport[] {
  const layers: LayerReport[] = [];
  const layerScores = targets.map((t) => scoresFor(t, false, scores).element!);
  let removed: Uint32Array[];
  if (o.pattern === 'n:m') {
    removed = targets.map((t, i) => selectNM(layerScores[i], t.value.const!.shape, t.inAxis, o.nm.n, o.nm.m, t.layer));
  } else if (o.scope === 'global') {
    removed = selectGlobal(layerScores, o.sparsity, o.minDensity);
  } else {
    removed = layerScores.map((s) => lowest(s, pruneCount(s.length, o.sparsity)));
  }
  targets.forEach((t, i) => {
    ctx.progress?.(`pruning ${t.layer}`);
    const tensor = t.value.const!;
    const form = zeroElements(tensor, removed[i]);
    const w = tensor.toFloat32();
    let zeros = 0;
    for (let k = 0; k < w.length; k++) if (w[k] === 0) zeros++;
    layers.push(layerReport(t, [...tensor.shape], zeros, form.stored === 'float32' && !form.widened ? {} : form));
  });
  return layers;
}

function layerReport(t: PruneTarget, newShape: number[], zeros: number, extra: Partial<LayerReport> = {}): LayerReport {
  const shape = [...t.value.const!.shape];
  const params = shape.reduce((p, d) => p * d, 1);
  return { layer: t.layer, weight: t.value.name, op: t.node.opType, shape, newShape, params, zeros, sparsity: params ? zeros / params : 0, ...extra };
}
