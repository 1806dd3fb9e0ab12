import type { Variable } from '@tensorflow/tfjs';
import { lowest, magnitudeScores, pruneCount, selectGlobal, type Scope } from '../passes/prune';
import type { TF } from '../runtime/executor';

/**
 * Gradual magnitude pruning (Zhu & Gupta, "To prune, or not to prune", 2017), as tfmot's
 * PolynomialDecay: between beginStep and endStep the target sparsity rises as
 *     s_t = s_f + (s_i − s_f) · (1 − p)³,   p = (t − beginStep) / (endStep − beginStep) clipped to [0, 1],
 * and the weights are re-pruned to s_t every `frequency` steps (t − beginStep a multiple of
 * it, t ≤ endStep, and at endStep itself so s_f is reached); training between the prunes
 * recovers. After endStep the mask is fixed.
 */
export interface GradualPruning {
  initial: number;
  final: number;
  beginStep: number;
  endStep: number;
  frequency: number;
  power?: number;
  /**
   * How each re-prune picks the weights, as the one-shot pass does (passes/prune/pass.ts):
   * 'global' ranks |w| over all pruned tensors with the --min-density floor per tensor,
   * 'layer' takes each tensor to s_t (tfmot's prune_low_magnitude). Default global, floor 0.
   */
  scope?: Scope;
  minDensity?: number;
}

export function polynomialSparsity(step: number, g: GradualPruning): number {
  const span = Math.max(1, g.endStep - g.beginStep);
  const p = Math.min(1, Math.max(0, (step - g.beginStep) / span));
  return g.final + (g.initial - g.final) * (1 - p) ** (g.power ?? 3);
}

export function isPruningStep(step: number, g: GradualPruning): boolean {
  // Also at endStep itself, so the final sparsity is reached whatever the frequency.
  return step >= g.beginStep && step <= g.endStep && ((step - g.beginStep) % g.frequency === 0 || step === g.endStep);
}

/**
 * Global magnitude pruning of `vars` to `sparsity`: the ⌊sparsity·n⌋ smallest |w| over all
 * of them become exact zeros (ties broken by position, so the result repeats). Zeros
 * already there count towards the target and stay.
 */
export function pruneGlobalMagnitude(tf: TF, vars: readonly Variable[], sparsity: number): number {
  const datas = vars.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const n = datas.reduce((a, d) => a + d.length, 0);
  const k = Math.floor(sparsity * n);
  if (k <= 0) return 0;
  const abs = new Float32Array(n);
  let o = 0;
  for (const d of datas) for (let i = 0; i < d.length; i++) abs[o++] = Math.abs(d[i]);
  const order = new Uint32Array(n).map((_, i) => i);
  order.sort((a, b) => abs[a] - abs[b] || a - b);
  const cut = new Uint8Array(n);
  for (let i = 0; i < k; i++) cut[order[i]] = 1;
  o = 0;
  datas.forEach((d, vi) => {
    for (let i = 0; i < d.length; i++) if (cut[o++]) d[i] = 0;
    const t = tf.tensor(d, vars[vi].shape, 'float32');
    vars[vi].assign(t);
    t.dispose();
  });
  return k;
}

/**
 * Magnitude pruning of `vars` to `sparsity` on their current values, with the one-shot
 * pass's own selection (selectGlobal with the per-tensor floor, or lowest/pruneCount per
 * tensor), so a gradual run ends with the mask the one-shot pass would pick for the same
 * weights. Zeros already there score lowest, so they stay pruned: the masks only grow.
 * Returns the number of zeros after pruning.
 */
export function pruneMagnitude(tf: TF, vars: readonly Variable[], sparsity: number, scope: Scope = 'global', minDensity = 0): number {
  const datas = vars.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const scores = datas.map(magnitudeScores);
  const removed = scope === 'global' ? selectGlobal(scores, sparsity, minDensity) : scores.map((s) => lowest(s, pruneCount(s.length, sparsity)));
  let zeros = 0;
  datas.forEach((d, vi) => {
    for (const k of removed[vi]) d[k] = 0;
    for (let i = 0; i < d.length; i++) if (d[i] === 0) zeros++;
    const t = tf.tensor(d, vars[vi].shape, 'float32');
    vars[vi].assign(t);
    t.dispose();
  });
  return zeros;
}
