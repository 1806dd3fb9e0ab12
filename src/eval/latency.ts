import type { HostTensor, ModelRunner } from '../runtime';
import type { LatencyReport } from './types';
import { mean, median, quantile } from './stats';

export interface LatencyOptions {
  runs: number;
  warmup: number;
  batchSize: number;
  input: 'data' | 'synthetic';
}

export interface LatencyResult {
  candidate: LatencyReport;
  baseline: LatencyReport | null;
  /** Median of the per-pair ratios candidate/baseline; null without a baseline. */
  ratio: number | null;
}

async function timeOne(runner: ModelRunner, feeds: ReadonlyMap<string, HostTensor>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await runner.run(feeds);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function summarize(times: number[], runner: ModelRunner, o: LatencyOptions): LatencyReport {
  return {
    medianMs: median(times),
    p90Ms: quantile(times, 0.9),
    meanMs: mean(times),
    minMs: Math.min(...times),
    runs: o.runs,
    warmup: o.warmup,
    batchSize: o.batchSize,
    threads: runner.threads,
    runtime: runner.runtime,
    backend: runner.backend,
    input: o.input,
  };
}

/**
 * Times candidate and baseline INTERLEAVED (A, B, B, A, A, B, ...) after both
 * warm up, so slow drifts of a shared machine (thermal, noisy neighbours) hit both
 * alike. The ratio is the median of per-pair ratios rather than a ratio of
 * medians: each pair ran under nearly the same machine state.
 */
export async function measureLatency(
  candidate: ModelRunner,
  candidateFeeds: ReadonlyMap<string, HostTensor>,
  baseline: ModelRunner | null,
  baselineFeeds: ReadonlyMap<string, HostTensor> | null,
  o: LatencyOptions,
): Promise<LatencyResult> {
  for (let i = 0; i < o.warmup; i++) {
    if (baseline && baselineFeeds) await baseline.run(baselineFeeds);
    await candidate.run(candidateFeeds);
  }
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    if (baseline && baselineFeeds) {
      // Alternate which goes first (B,C then C,B): whatever the second run of a pair gains
      // from the first (warm caches, a CPU already at full clock) then falls on both alike.
      let tb: number;
      let tc: number;
      if (i % 2 === 0) {
        tb = await timeOne(baseline, baselineFeeds);
        tc = await timeOne(candidate, candidateFeeds);
      } else {
        tc = await timeOne(candidate, candidateFeeds);
        tb = await timeOne(baseline, baselineFeeds);
      }
      b.push(tb);
      a.push(tc);
      ratios.push(tc / tb);
    } else {
      a.push(await timeOne(candidate, candidateFeeds));
    }
  }
  return {
    candidate: summarize(a, candidate, o),
    baseline: baseline ? summarize(b, baseline, o) : null,
    ratio: baseline ? median(ratios) : null,
  };
}
