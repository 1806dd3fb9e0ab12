import type { Model, Value } from '../../ir';
import { channelGroups, groupScores, selectClasses, type BlockedGroup, type TargetGroup } from './channel';
import { pruneGroup } from '../../graph/channel-deps';
import { globalBudgets, pruneCount } from './select';
import type { GroupReport, LayerReport, PruneOptions, PruneTarget, SkippedLayer } from './types';

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
 *   layer scope:  group i removes F_i = round(sparsity * C_i) (keeping ≥ 1), and
 *                 after round r has removed round(F_i * r / k) in total;
 *   global scope: T = round(sparsity * sum C_i) capped by the min-density floors
 *                 (as one-shot), round(T * r / k) removed after round r, each
 *                 layer within its floor budget.
 * With k = 1 this is exactly the one-shot selection.
 *
 * The unit of removal is a channel of a dependency group (graph/channel-deps.ts):
 * a plain layer's group is its own filters; coupled layers (a residual sum, a
 * depthwise Conv and its producer, the inputs of a Concat) form one group whose
 * channels are scored by the sum of their members' scores, and the counts above
 * are per group instead of per layer.
 */
export class ChannelRounds {
  /** Eligible layers (members of prunable groups), in graph order; their Values stay the same objects across rounds. */
  readonly targets: PruneTarget[] = [];
  readonly skipped: SkippedLayer[];
  private readonly before = new Map<Value, number[]>();
  /** Prunable groups, keyed by their first member's weight (stable across rounds). */
  private readonly keys: Value[];
  private readonly members: PruneTarget[][];
  private readonly classes: number[];
  private readonly removed: number[];
  private readonly blocked: BlockedGroup[];
  /** Targets that could not be pruned: their output channels count towards the achieved fraction. */
  private readonly held: number;
  /** Layer scope: final removals per group; global: the floor budget per group. */
  private readonly limit: number[];
  private readonly globalTotal: number;
  private done = 0;

  constructor(model: Model, targets: readonly PruneTarget[], private readonly o: PruneOptions, readonly rounds: number) {
    const { groups, skipped, blocked } = channelGroups(model, targets);
    this.skipped = skipped;
    this.blocked = blocked;
    const eligible = new Set(groups.flatMap((g) => g.members.map((m) => m.target)));
    this.targets = targets.filter((t) => eligible.has(t));
    // Layers that write a graph output keep their channels by the model's interface: they are not counted.
    const atOutput = new Set(blocked.filter((b) => b.reasons.some((r) => r.startsWith('its channels reach graph output'))).flatMap((b) => b.layers));
    const held = new Set(skipped.map((s) => s.layer).filter((l) => !atOutput.has(l)));
    this.held = targets.filter((t) => held.has(t.layer)).reduce((s, t) => s + outChannels(t), 0);
    this.keys = groups.map((g) => g.members[0].target.value);
    this.members = groups.map((g) => g.members.map((m) => m.target));
    this.classes = groups.map((g) => g.group.classes);
    this.removed = groups.map(() => 0);
    // Every eligible layer's shape before any surgery: a consumer's weights shrink when its producer is pruned.
    for (const t of this.targets) this.before.set(t.value, [...t.value.const!.shape]);
    if (o.scope === 'global') {
      this.limit = globalBudgets(this.classes, o.minDensity, 1);
      const total = this.classes.reduce((s, c) => s + c, 0);
      this.globalTotal = Math.min(Math.round(o.sparsity * total), this.limit.reduce((s, b) => s + b, 0));
    } else {
      this.limit = multipleCounts(this.classes, this.classes.map((c) => pruneCount(c, o.sparsity, 1)), o.channelMultiple ?? 1);
      this.globalTotal = 0;
    }
  }

  /** Rounds still to run. */
  get remaining(): number {
    return this.rounds - this.done;
  }

  /**
   * Runs the next round: `scores[i]` has one score per *current* output channel of
   * `targets[i]` (lower = removed first), computed on the model as it is now. A
   * group's channel scores are the sums of its members' (DepGraph's group importance).
   */
  step(model: Model, scores: readonly ArrayLike<number>[]): void {
    if (this.remaining <= 0) throw new Error('channel pruning: all rounds already ran');
    const r = ++this.done;
    const byTarget = new Map(this.targets.map((t, i) => [t.value, scores[i]]));
    this.targets.forEach((t, i) => {
      const n = outChannels(t);
      if (scores[i].length !== n) throw new Error(`layer '${t.layer}': ${scores[i].length} scores for ${n} channels`);
    });
    const { groups, skipped } = channelGroups(model, this.targets);
    const byKey = new Map(groups.map((g) => [g.members[0].target.value, g]));
    const now = this.keys.map((k, i): TargetGroup => {
      const g = byKey.get(k);
      if (!g || g.members.length !== this.members[i].length) {
        const why = skipped.find((s) => s.layer === this.members[i][0].layer)?.reason ?? 'its group changed';
        throw new Error(`layer '${this.members[i][0].layer}' became ineligible after round ${r - 1}: ${why}`);
      }
      return g;
    });
    const groupScore = now.map((g) => groupScores(g, g.members.map((m) => byTarget.get(m.target.value)!)));
    let pick: Uint32Array[];
    if (this.o.scope === 'global') {
      const want = Math.round((this.globalTotal * r) / this.rounds) - this.removed.reduce((s, n) => s + n, 0);
      pick = selectClasses(now, groupScore, want, this.limit.map((b, i) => b - this.removed[i]));
    } else {
      pick = now.map((g, i) => {
        const n = Math.round((this.limit[i] * r) / this.rounds) - this.removed[i];
        return selectClasses([g], [groupScore[i]], n, [n])[0];
      });
    }
    const multiple = this.o.channelMultiple ?? 1;
    if (this.o.scope === 'global' && multiple > 1 && r === this.rounds) {
      // Global ranking decides each group's count; the last round rounds what each keeps.
      const counts = multipleCounts(this.classes, pick.map((p, i) => this.removed[i] + p.length), multiple);
      pick = now.map((g, i) => {
        const n = Math.max(0, counts[i] - this.removed[i]);
        return selectClasses([g], [groupScore[i]], n, [n])[0];
      });
    }
    now.forEach((g, i) => pruneGroup(g.group, Array.from(pick[i])));
    pick.forEach((p, i) => (this.removed[i] += p.length));
  }

  /** Per-layer totals against the original shapes (after the last round). */
  report(): LayerReport[] {
    return this.targets.map((t) => {
      const orig = this.before.get(t.value)!;
      const params = orig.reduce((a, d) => a * d, 1);
      const now = t.value.const!.shape;
      const zeros = params - now.reduce((a, d) => a * d, 1);
      const axis = t.outAxis < 0 ? t.outAxis + orig.length : t.outAxis;
      return {
        layer: t.layer, weight: t.value.name, op: t.node.opType, shape: orig, newShape: [...now],
        params, zeros, sparsity: params ? zeros / params : 0, channelsRemoved: orig[axis] - now[axis], channels: orig[axis],
      };
    });
  }

  /** Every dependency group: its layers, channels (classes), how many were removed, and why not when it is blocked. */
  groups(): GroupReport[] {
    const prunable = this.members.map((m, i) => ({ layers: m.map((t) => t.layer), channels: this.classes[i], removed: this.removed[i], reasons: [] as string[] }));
    return [...prunable, ...this.blocked.map((b) => ({ layers: [...b.layers], channels: b.channels, removed: 0, reasons: [...b.reasons] }))];
  }

  /**
   * Output channels removed over those of every layer considered: layers that could not
   * be pruned count as kept, except those whose channels reach a graph output (fixed by
   * the model's interface, never candidates, whatever else blocks them).
   */
  fraction(): { removed: number; channels: number } {
    const layers = this.report();
    return {
      removed: layers.reduce((s, l) => s + l.channelsRemoved!, 0),
      channels: layers.reduce((s, l) => s + l.channels!, 0) + this.held,
    };
  }
}

/**
 * Removal counts when every group must keep a multiple of `multiple` channels: group i
 * wanted to remove `wanted[i]`; it keeps the multiple just below or just above (at least
 * one multiple, at most all it has), whichever brings the running total removed closest
 * to the running total wanted (error diffusion; ties remove more), so the overall fraction stays near the
 * request. Groups smaller than `multiple` keep their count.
 */
export function multipleCounts(classes: readonly number[], wanted: readonly number[], multiple: number): number[] {
  if (multiple <= 1) return [...wanted];
  let want = 0;
  let got = 0;
  return classes.map((c, i) => {
    want += wanted[i];
    if (c < multiple) {
      got += wanted[i];
      return wanted[i];
    }
    const keep = c - wanted[i];
    const options = [Math.floor(keep / multiple) * multiple, Math.ceil(keep / multiple) * multiple]
      .map((k) => Math.min(c, Math.max(multiple, k)))
      .map((k) => c - k);
    // Ties remove more: the achieved fraction should not fall short of the request.
    const n = options.reduce((best, x) => (Math.abs(got + x - want) < Math.abs(got + best - want) ? x : best), options[0]);
    got += n;
    return n;
  });
}

function outChannels(t: PruneTarget): number {
  const s = t.value.const!.shape;
  return s[t.outAxis < 0 ? t.outAxis + s.length : t.outAxis];
}
