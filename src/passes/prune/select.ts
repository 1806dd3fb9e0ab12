import { UsageError } from '../../errors';

/**
 * Which weights (or channels) to remove, from importance scores. Lower score =
 * removed first; ties go to the lower index (and, globally, the earlier layer),
 * so the same scores always give the same selection.
 */

/** Indices sorted by (score, index), ascending. */
export function rankAscending(scores: ArrayLike<number>): Uint32Array {
  const idx = new Uint32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => scores[a] - scores[b] || a - b);
}

/** The `count` lowest-scoring indices of one layer, ascending by index. */
export function lowest(scores: ArrayLike<number>, count: number): Uint32Array {
  return rankAscending(scores).subarray(0, count).sort();
}

/** round(sparsity * n), clamped so that at least `keepAtLeast` items stay. */
export function pruneCount(n: number, sparsity: number, keepAtLeast = 0): number {
  return Math.max(0, Math.min(Math.round(sparsity * n), n - keepAtLeast));
}

/**
 * Global ranking: all layers' scores compete for round(sparsity * total) removals,
 * but no layer drops below ceil(minDensity * n) survivors. Returns each layer's
 * removed indices (ascending). When the floors make the target unreachable, as
 * many as allowed are removed.
 */
export function selectGlobal(layers: readonly ArrayLike<number>[], sparsity: number, minDensity: number, keepAtLeast = 0): Uint32Array[] {
  const total = layers.reduce((s, l) => s + l.length, 0);
  return selectGlobalCount(layers, Math.round(sparsity * total), globalBudgets(layers.map((l) => l.length), minDensity, keepAtLeast));
}

/** How many items each layer may lose under the global floors: n - max(keepAtLeast, ceil(minDensity * n)). */
export function globalBudgets(sizes: readonly number[], minDensity: number, keepAtLeast = 0): number[] {
  return sizes.map((n) => Math.max(0, n - Math.max(keepAtLeast, Math.ceil(minDensity * n))));
}

/**
 * The `want` lowest-scoring items over all layers, layer i giving up at most
 * `budget[i]`. Returns each layer's removed indices (ascending).
 */
export function selectGlobalCount(layers: readonly ArrayLike<number>[], want: number, budget: readonly number[]): Uint32Array[] {
  const total = layers.reduce((s, l) => s + l.length, 0);
  const all = new Float64Array(total);
  const layerOf = new Uint32Array(total);
  const localOf = new Uint32Array(total);
  let off = 0;
  layers.forEach((l, li) => {
    for (let i = 0; i < l.length; i++) {
      all[off + i] = l[i];
      layerOf[off + i] = li;
      localOf[off + i] = i;
    }
    off += l.length;
  });
  // Index order already encodes (layer, index), so ranking by (score, global index) breaks ties by layer then index.
  const order = rankAscending(all);
  const picked: number[][] = layers.map(() => []);
  for (let k = 0; k < order.length && want > 0; k++) {
    const li = layerOf[order[k]];
    if (picked[li].length >= budget[li]) continue;
    picked[li].push(localOf[order[k]]);
    want--;
  }
  return picked.map((p) => Uint32Array.from(p).sort());
}

/**
 * N:M selection: in every run of m consecutive weights along `inAxis`, the n
 * lowest-scoring are removed. The reduction size must be a multiple of m.
 */
export function selectNM(scores: ArrayLike<number>, shape: readonly number[], inAxis: number, n: number, m: number, layer: string): Uint32Array {
  const K = shape[inAxis];
  if (K % m !== 0) throw new UsageError(`layer '${layer}': reduction size ${K} (axis ${inAxis} of ${JSON.stringify(shape)}) is not divisible by m=${m} for ${n}:${m} pruning; exclude it with --exclude`);
  const inner = shape.slice(inAxis + 1).reduce((p, d) => p * d, 1);
  const outer = shape.slice(0, inAxis).reduce((p, d) => p * d, 1);
  const out = new Uint32Array((outer * K * inner / m) * n);
  const group = new Float64Array(m);
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < K / m; g++) {
      for (let r = 0; r < inner; r++) {
        const base = (o * K + g * m) * inner + r;
        for (let j = 0; j < m; j++) group[j] = scores[base + j * inner];
        const order = rankAscending(group);
        for (let j = 0; j < n; j++) out[w++] = base + order[j] * inner;
      }
    }
  }
  return out.sort();
}
