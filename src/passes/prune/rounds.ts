import type { Model, Value } from '../../ir';
import { applyChannelPlan, type ChannelPlan, planChannels } from './channel';
import { globalBudgets, lowest, pruneCount, selectGlobalCount } from './select';
import type { LayerReport, PruneOptions, PruneTarget, SkippedLayer } from './types';

/**
 * Channel pruning in k rounds: Molchanov et al.'s iterative procedure ("Pruning
 * Convolutional Neural Networks for Resource Efficient Inference", ICLR 2017, §2;
 * "Importance Estimation for Neural Network Pruning", CVPR 2019, §3.3) without the
 * fine-tuning between rounds. A Taylor score is a first-order estimate around the
 * current weights; once some channels are gone the survivors' importance changes
 * (a consumer that lost half its inputs leans harder on the rest), so each round
 * re-scores the physically shrunk model and removes the next slice.
 *
 * Counts are fixed up front so the result is exactly the one-shot target:
 *   layer scope:  layer i removes F_i = round(sparsity * C_i) (keeping ≥ 1), and
 *                 after round r has removed round(F_i * r / k) in total;
 *   global scope: T = round(sparsity * sum C_i) capped by the min-density floors
 *                 (as one-shot), round(T * r / k) removed after round r, each
 *                 layer within its floor budget.
 * With k = 1 this is exactly the one-shot selection.
 */
export class ChannelRounds {
  /** Eligible layers, in graph order; their Values stay the same objects across rounds. */
  readonly targets: PruneTarget[] = [];
  readonly skipped: SkippedLayer[] = [];
  private readonly before = new Map<Value, number[]>();
  private readonly channels: number[] = [];
  private readonly removed: number[] = [];
  /** Layer scope: final removals per layer; global: the floor budget per layer. */
  private readonly limit: number[];
  private readonly globalTotal: number;
  private done = 0;

  constructor(model: Model, targets: readonly PruneTarget[], private readonly o: PruneOptions, readonly rounds: number) {
    for (const t of targets) {
      const p = planChannels(model, t);
      if ('reason' in p) {
        this.skipped.push({ layer: t.layer, reason: p.reason });
        continue;
      }
      this.targets.push(t);
      this.channels.push(p.channels);
      this.removed.push(0);
    }
    // Every eligible layer's shape before any surgery: a consumer's weights shrink when its producer is pruned.
    for (const t of this.targets) this.before.set(t.value, [...t.value.const!.shape]);
    if (o.scope === 'global') {
      this.limit = globalBudgets(this.channels, o.minDensity, 1);
      const total = this.channels.reduce((s, c) => s + c, 0);
      this.globalTotal = Math.min(Math.round(o.sparsity * total), this.limit.reduce((s, b) => s + b, 0));
    } else {
      this.limit = this.channels.map((c) => pruneCount(c, o.sparsity, 1));
      this.globalTotal = 0;
    }
  }

  /** Rounds still to run. */
  get remaining(): number {
    return this.rounds - this.done;
  }

  /**
   * Runs the next round: `scores[i]` has one score per *current* output channel of
   * `targets[i]` (lower = removed first), computed on the model as it is now.
   */
  step(model: Model, scores: readonly ArrayLike<number>[]): void {
    if (this.remaining <= 0) throw new Error('channel pruning: all rounds already ran');
    const r = ++this.done;
    const plans = this.targets.map((t): ChannelPlan => {
      const p = planChannels(model, t);
      if ('reason' in p) throw new Error(`layer '${t.layer}' became ineligible after round ${r - 1}: ${p.reason}`);
      return p;
    });
    plans.forEach((p, i) => {
      if (scores[i].length !== p.channels) throw new Error(`layer '${p.target.layer}': ${scores[i].length} scores for ${p.channels} channels`);
    });
    let pick: Uint32Array[];
    if (this.o.scope === 'global') {
      const want = Math.round((this.globalTotal * r) / this.rounds) - this.removed.reduce((s, n) => s + n, 0);
      pick = selectGlobalCount(scores, want, this.limit.map((b, i) => b - this.removed[i]));
    } else {
      pick = scores.map((s, i) => lowest(s, Math.round((this.limit[i] * r) / this.rounds) - this.removed[i]));
    }
    plans.forEach((p, i) => applyChannelPlan(p, Array.from(pick[i])));
    pick.forEach((p, i) => (this.removed[i] += p.length));
  }

  /** Per-layer totals against the original shapes (after the last round). */
  report(): LayerReport[] {
    return this.targets.map((t, i) => {
      const orig = this.before.get(t.value)!;
      const params = orig.reduce((a, d) => a * d, 1);
      const now = t.value.const!.shape;
      const zeros = params - now.reduce((a, d) => a * d, 1);
      return {
        layer: t.layer, weight: t.value.name, op: t.node.opType, shape: orig, newShape: [...now],
        params, zeros, sparsity: params ? zeros / params : 0, channelsRemoved: this.removed[i], channels: this.channels[i],
      };
    });
  }
}
