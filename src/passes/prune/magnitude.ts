import type { PruneTarget, TargetScores } from './types';

/** Unstructured / n:m magnitude criterion: |w|. */
export function magnitudeScores(w: Float32Array): Float32Array {
  const s = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) s[i] = Math.abs(w[i]);
  return s;
}

/** Channel magnitude criterion: the L2 norm of each output filter (slice along outAxis). */
export function channelNorms(w: Float32Array, shape: readonly number[], outAxis: number): Float64Array {
  const outer = shape.slice(0, outAxis).reduce((p, d) => p * d, 1);
  const C = shape[outAxis];
  const inner = shape.slice(outAxis + 1).reduce((p, d) => p * d, 1);
  const sq = new Float64Array(C);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      let acc = 0;
      for (let k = 0; k < inner; k++) acc += w[base + k] * w[base + k];
      sq[c] += acc;
    }
  }
  for (let c = 0; c < C; c++) sq[c] = Math.sqrt(sq[c]);
  return sq;
}

export function magnitudeTargetScores(t: PruneTarget, channel: boolean): TargetScores {
  const c = t.value.const!;
  const w = c.toFloat32();
  return channel ? { channel: channelNorms(w, c.shape, t.outAxis) } : { element: magnitudeScores(w) };
}
