import { UsageError } from '../../errors';
import type { Model, Value } from '../../ir';
import type { Pass, PassContext, PassResult } from '../pass';
import { applyChannelPlan, ChannelPlan, planChannels } from './channel';
import { magnitudeTargetScores } from './magnitude';
import { findTargets } from './targets';
import { lowest, pruneCount, selectGlobal, selectNM } from './select';
import type { LayerReport, PruneChanges, PruneOptions, PruneTarget, ScoreMap, SkippedLayer, TargetScores } from './types';

/** Checks option ranges; one-line UsageError on bad input. */
export function validatePruneOptions(o: PruneOptions): void {
  if (!(o.sparsity >= 0 && o.sparsity < 1)) throw new UsageError(`--sparsity must be in [0, 1), got ${o.sparsity}`);
  if (!(o.minDensity >= 0 && o.minDensity <= 1)) throw new UsageError(`--min-density must be in [0, 1], got ${o.minDensity}`);
  const { n, m } = o.nm;
  if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 0 && m >= 1 && n < m)) throw new UsageError(`--n-m must be n:m with 0 <= n < m, got ${n}:${m}`);
}

/**
 * The pruning pass. Scores come from `scores` (saliency, computed beforehand from
 * data) or from weight magnitudes. Unstructured and n:m write zeros into the dense
 * weights; channel removes channels and shrinks the graph.
 */
export function prunePass(opts: PruneOptions, scores?: ScoreMap): Pass<PruneChanges> {
  return {
    name: 'prune',
    run: (model: Model, ctx: PassContext): PassResult<PruneChanges> => pruneModel(model, opts, scores, ctx),
  };
}

function scoresFor(t: PruneTarget, channel: boolean, scores: ScoreMap | undefined): TargetScores {
  if (!scores) return magnitudeTargetScores(t, channel);
  const s = scores.get(t.value);
  if (!s || (channel ? !s.channel : !s.element)) throw new Error(`no saliency scores for layer '${t.layer}'`);
  return s;
}

function pruneModel(model: Model, o: PruneOptions, scores: ScoreMap | undefined, ctx: PassContext): PassResult<PruneChanges> {
  validatePruneOptions(o);
  const { targets, skipped } = findTargets(model, o.exclude);
  const changes: PruneChanges = {
    criterion: o.criterion, pattern: o.pattern, scope: o.scope, targetSparsity: o.sparsity,
    nm: o.pattern === 'n:m' ? o.nm : undefined, layers: [], skipped, globalSparsity: 0,
  };
  if (o.pattern === 'channel') pruneChannels(model, targets, o, scores, changes);
  else pruneElements(targets, o, scores, changes, ctx);
  const params = changes.layers.reduce((s, l) => s + l.params, 0);
  const zeros = changes.layers.reduce((s, l) => s + l.zeros, 0);
  changes.globalSparsity = params ? zeros / params : 0;
  return { modified: zeros > 0, changes };
}

function pruneElements(targets: PruneTarget[], o: PruneOptions, scores: ScoreMap | undefined, changes: PruneChanges, ctx: PassContext): void {
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
    const w = Float32Array.from(tensor.toFloat32()); // a copy: the original may view the input file
    for (const k of removed[i]) w[k] = 0;
    tensor.setData('float32', [...tensor.shape], { kind: 'bytes', bytes: new Uint8Array(w.buffer) });
    let zeros = 0;
    for (let k = 0; k < w.length; k++) if (w[k] === 0) zeros++;
    changes.layers.push(layerReport(t, [...tensor.shape], zeros));
  });
}

function layerReport(t: PruneTarget, newShape: number[], zeros: number, extra: Partial<LayerReport> = {}): LayerReport {
  const shape = [...t.value.const!.shape];
  const params = shape.reduce((p, d) => p * d, 1);
  return { layer: t.layer, weight: t.value.name, op: t.node.opType, shape, newShape, params, zeros, sparsity: params ? zeros / params : 0, ...extra };
}

function pruneChannels(model: Model, targets: PruneTarget[], o: PruneOptions, scores: ScoreMap | undefined, changes: PruneChanges): void {
  const plans: ChannelPlan[] = [];
  for (const t of targets) {
    const p = planChannels(model, t);
    if ('reason' in p) changes.skipped.push({ layer: t.layer, reason: p.reason } satisfies SkippedLayer);
    else plans.push(p);
  }
  // Score every eligible layer before any surgery: a consumer's weights shrink when its producer is pruned.
  const chScores = plans.map((p) => scoresFor(p.target, true, scores).channel!);
  const removed = o.scope === 'global'
    ? selectGlobal(chScores, o.sparsity, o.minDensity, 1)
    : chScores.map((s) => lowest(s, pruneCount(s.length, o.sparsity, 1)));
  const before = new Map<Value, number[]>(plans.map((p) => [p.target.value, [...p.target.value.const!.shape]]));
  plans.forEach((p, i) => applyChannelPlan(p, Array.from(removed[i])));
  plans.forEach((p, i) => {
    const orig = before.get(p.target.value)!;
    const params = orig.reduce((a, d) => a * d, 1);
    const now = p.target.value.const!.shape;
    const zeros = params - now.reduce((a, d) => a * d, 1);
    changes.layers.push({
      layer: p.target.layer, weight: p.target.value.name, op: p.target.node.opType, shape: orig, newShape: [...now],
      params, zeros, sparsity: params ? zeros / params : 0, channelsRemoved: removed[i].length, channels: p.channels,
    });
  });
}
