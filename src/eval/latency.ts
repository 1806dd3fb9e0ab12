import { detectCpu, type HostTensor, type ModelRunner } from '../runtime';
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
    cpu: detectCpu(),
  };
}

/** Runs per block: ⌈runs/10⌉, at most 10: at least 10 block pairs up to 100 runs, so one disturbed pair cannot move the median. */
export function latencyBlockSize(runs: number): number {
  return Math.max(1, Math.min(10, Math.ceil(runs / 10)));
}

/**
 * Times candidate and baseline in alternating BLOCKS after both warm up:
 * B×k C×k, then C×k B×k, and so on (k = latencyBlockSize(runs)), each block
 * after one untimed run. Within a block a model runs back to back, as it does
 * in production, with its weights and buffers in cache; alternating on every
 * run instead starts each run with the other model's data in the caches,
 * which made the static int8 fixture CNN look 5–10% slower relative to float
 * (bench/static.bench.js prints both). Slow drifts of a shared machine still
 * hit both alike: the ratio is the median over block pairs of
 * median(candidate block) / median(baseline block), the two blocks of a pair
 * being adjacent.
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
  const block = async (runner: ModelRunner, feeds: ReadonlyMap<string, HostTensor>, k: number): Promise<number[]> => {
    await runner.run(feeds);
    const t: number[] = [];
    for (let i = 0; i < k; i++) t.push(await timeOne(runner, feeds));
    return t;
  };
  if (!baseline || !baselineFeeds) {
    for (let i = 0; i < o.runs; i++) a.push(await timeOne(candidate, candidateFeeds));
  } else {
    const size = latencyBlockSize(o.runs);
    for (let done = 0, pair = 0; done < o.runs; done += size, pair++) {
      const k = Math.min(size, o.runs - done);
      let tb: number[];
      let tc: number[];
      if (pair % 2 === 0) {
        tb = await block(baseline, baselineFeeds, k);
        tc = await block(candidate, candidateFeeds, k);
      } else {
        tc = await block(candidate, candidateFeeds, k);
        tb = await block(baseline, baselineFeeds, k);
      }
      b.push(...tb);
      a.push(...tc);
      ratios.push(median(tc) / median(tb));
    }
  }
  return {
    candidate: summarize(a, candidate, o),
    baseline: baseline ? summarize(b, baseline, o) : null,
    ratio: baseline ? median(ratios) : null,
  };
}
