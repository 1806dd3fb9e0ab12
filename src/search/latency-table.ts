/**
 * Latency measured in onnxruntime on this machine (1 thread, as `mc eval`
 * measures it: src/eval/latency.ts), for a latency-budgeted search.
 *
 * The table: for each layer and each channel rung, the latency ratio of the
 * float model with only that layer's filters cut to that rung, against the
 * float model, timed in alternating blocks in the same process (so a slow
 * drift of the shared machine hits both alike). Each entry is the median of
 * `repeats` such measurements, and its spread (max − min of the repeats) is
 * kept: it is the noise the report states. A plan's latency is estimated as
 * 1 + Σ_layers (ratio − 1); the plan finally chosen is measured end to end.
 *
 * What an entry is: the whole model's time with one layer changed, not the
 * layer's time alone (a single-op model per shape is not built). So it
 * includes the saving in the layer's consumer, whose inputs shrink with it;
 * when the consumer is cut too, the sum counts part of that saving twice and
 * the estimate is optimistic. The end-to-end check catches that (netadapt.ts
 * tightens its target by the gap and goes on). Entries are keyed by layer
 * name, weight shape and rung: cached for the search, not across runs.
 */
import * as fs from 'fs';
import { UsageError } from '../errors';
import { inputSpecs, synthesizeFeeds } from '../eval/inputs';
import { measureLatency } from '../eval/latency';
import { median } from '../eval/stats';
import type { Model } from '../ir';
import type { StatisticsMemory } from '../pipeline/static';
import { applyPlan } from '../plan';
import { encodeModel, openRunner, type HostTensor, type ModelRunner } from '../runtime';
import { writeFileAtomic } from '../util/atomic';
import { planFor } from './space';
import type { Assignment, Dimension } from './types';

export interface LatencySettings {
  /** Timed runs per model in one measurement (alternating blocks with the float model). */
  runs: number;
  /** Measurements per entry: the entry is their median, the spread their range. */
  repeats: number;
  /** Samples per run (mc eval's default batch is 32). */
  batchSize: number;
}

export interface LatencyEntry {
  /** Median candidate/float latency ratio over the repeats (null: the plan cannot be applied). */
  ratio: number | null;
  /** max − min of the repeats' ratios. */
  spread: number;
  /** The largest of the repeats' ratios. */
  max: number;
  /** The second largest (the largest when one repeat): a budget is met when all repeats but one meet it. */
  high: number;
  /** Median ms of the candidate and of the float model (the last repeat's medians). */
  ms: number;
  floatMs: number;
  error?: string;
}

/** Measures models against the float model, in one process, with one set of input feeds. */
export class LatencyMeter {
  private constructor(
    private readonly float: Model,
    private readonly floatRunner: ModelRunner,
    private readonly feeds: ReadonlyMap<string, HostTensor>,
    private readonly label: string,
    readonly settings: LatencySettings,
    private readonly statistics?: StatisticsMemory,
  ) {}

  /** `statistics`: calibration shared by the static plans it applies (one calibration pass per graph). */
  static async open(float: Model, label: string, settings: LatencySettings, statistics?: StatisticsMemory): Promise<LatencyMeter> {
    const runner = await openRunner(encodeModel(float, label), { threads: 1, label });
    return new LatencyMeter(float, runner, synthesizeFeeds(inputSpecs(runner), settings.batchSize), label, settings, statistics);
  }

  /** The latency of `a`'s plan applied to a clone of the float model, against the float model. */
  async measure(a: Assignment, layers: readonly string[], dims: readonly Dimension[], repeats = this.settings.repeats): Promise<LatencyEntry> {
    let runner: ModelRunner | null = null;
    try {
      const m = this.float.clone();
      const plan = planFor(a, layers, dims);
      if (plan) await applyPlan(m, plan, { label: this.label, statistics: this.statistics });
      runner = await openRunner(encodeModel(m, this.label), { threads: 1, label: this.label });
      const ratios: number[] = [];
      let ms = 0;
      let floatMs = 0;
      for (let i = 0; i < repeats; i++) {
        const r = await measureLatency(runner, this.feeds, this.floatRunner, this.feeds, {
          runs: this.settings.runs, warmup: 3, batchSize: this.settings.batchSize, input: 'synthetic',
        });
        ratios.push(r.ratio!);
        ms = r.candidate.medianMs;
        floatMs = r.baseline!.medianMs;
      }
      const sorted = [...ratios].sort((x, y) => x - y);
      return { ratio: median(ratios), spread: sorted[sorted.length - 1] - sorted[0], max: sorted[sorted.length - 1], high: sorted[Math.max(0, sorted.length - 2)], ms, floatMs };
    } catch (e) {
      return { ratio: null, spread: 0, max: Infinity, high: Infinity, ms: 0, floatMs: 0, error: (e as Error).message.split('\n')[0] };
    } finally {
      await runner?.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.floatRunner.dispose();
  }
}

/**
 * Entries kept across runs (`--latency-table file.json`): keyed by layer name, weight shape and
 * rung, valid for one model digest and one set of latency settings (the caller checks both), so a
 * rerun reads the same table and proposes the same plans.
 */
export interface LatencyCache {
  keyOf: (layer: string) => string;
  entries: Record<string, LatencyEntry>;
}

/** What a kept table is valid for: the model's digest, the latency settings and this CPU. */
export type LatencyCacheId = { model: string; settings: LatencySettings; cpu: string };

/** The entries of `--latency-table file` (none when it does not exist yet); refused when measured for another id. */
export function readLatencyCache(file: string | undefined, id: LatencyCacheId): Record<string, LatencyEntry> {
  if (!file || !fs.existsSync(file)) return {};
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { id: unknown; entries: Record<string, LatencyEntry> };
  if (JSON.stringify(saved.id) !== JSON.stringify(id)) throw new UsageError(`--latency-table ${file} was measured for another model, CPU or latency settings; give another file or remove it`);
  return saved.entries;
}

export function writeLatencyCache(file: string, id: LatencyCacheId, entries: Record<string, LatencyEntry>): void {
  writeFileAtomic(file, JSON.stringify({ id, entries }, null, 1) + '\n');
}

/** table[layer][rung]: each layer alone on each rung (the safest rung, the float model, is 1). */
export interface LatencyTable {
  entries: LatencyEntry[][];
  /** Estimated ratio of an assignment: 1 + Σ (entry − 1); Infinity when a layer's rung cannot be applied. */
  estimate(a: Assignment): number;
}

/** Key of a table row: the layer and its weight's shape (what the entry depends on besides the model around it). */
export function layerShapeKey(model: Model, layer: string): string {
  const t = model.graph.initializers.find((v) => v.name === layer)?.const;
  return `${layer}[${t ? t.shape.join('x') : '?'}]`;
}

/** Measures the table for one dimension (index `d`) of `dims`, every other dimension on its safest rung. */
export async function measureTable(
  meter: LatencyMeter, layers: readonly string[], dims: readonly Dimension[], d: number,
  onEntry?: (layer: string, rung: number | string, e: LatencyEntry) => void,
  cache?: LatencyCache,
): Promise<LatencyTable> {
  const safest = layers.map(() => dims.map((x) => x.rungs.length - 1));
  const entries: LatencyEntry[][] = [];
  for (let l = 0; l < layers.length; l++) {
    const row: LatencyEntry[] = [];
    for (let r = 0; r < dims[d].rungs.length; r++) {
      if (r === dims[d].rungs.length - 1) {
        row.push({ ratio: 1, spread: 0, max: 1, high: 1, ms: 0, floatMs: 0 });
        continue;
      }
      // A layer that cannot take a rung cannot take a more aggressive one either (the output layer).
      if (r > 0 && row[0]?.error) {
        row.push({ ...row[0] });
        continue;
      }
      const a = safest.map((x) => [...x]);
      a[l][d] = r;
      const key = cache && `${cache.keyOf(layers[l])}@${dims[d].rungs[r]}`;
      const e = (key && cache!.entries[key]) || await meter.measure(a, layers, dims);
      if (key) cache!.entries[key] = e;
      onEntry?.(layers[l], dims[d].rungs[r], e);
      row.push(e);
    }
    entries.push(row);
  }
  return {
    entries,
    estimate: (a) => {
      let s = 1;
      for (let l = 0; l < layers.length; l++) {
        const e = entries[l][a[l][d]];
        if (e.ratio === null) return Infinity;
        s += e.ratio - 1;
      }
      return s;
    },
  };
}
