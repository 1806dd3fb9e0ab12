/**
 * The latency objective of the ordinary search (`--objective latency` or
 * `size,latency` over quantize, prune or channels; NetAdapt is the channel
 * search under a latency budget, tune-latency.ts). Before any trial, each
 * layer is timed alone on each rung of each dimension (latency-table.ts:
 * the whole model in onnxruntime, 1 thread, alternating with the float
 * model); a plan's latency is estimated as 1 + Σ over its layers and
 * dimensions of (entry − 1), and the answer is measured end to end.
 *
 * With --space static, each plan is timed end to end instead (see
 * LatencyObjective.mode), so trials must not share the cores: --workers 1.
 *
 * With latency the only objective, a rung not measured faster than float (in
 * every repeat) cannot lower the objective for that layer, so the search
 * does not give it (the sensitivity table shows the reason, and no trial is
 * spent on it). Weight-only int8/int4 on a convolution is such a rung in
 * onnxruntime on CPU: the DequantizeLinear runs at every inference.
 */
import type { Model } from '../ir';
import type { StatisticsMemory } from '../pipeline/static';
import { cpuLine, detectCpu } from '../runtime';
import { LatencyMeter, layerShapeKey, measureTable, readLatencyCache, writeLatencyCache, type LatencyCacheId, type LatencyEntry, type LatencyTable } from './latency-table';
import type { Assignment, Dimension, LatencyObjectiveOptions, LatencyObjectiveReport, ObjectiveName, QuantOption } from './types';

export interface LatencyObjective {
  /**
   * 'table': 1 + Σ (entry − 1), from each layer timed alone. 'end-to-end': each plan timed whole
   * (static int8, whose gain comes from consecutive int8 layers: one layer alone is slower than
   * float, all of them faster, so no per-layer sum can estimate it).
   */
  readonly mode: 'table' | 'end-to-end';
  estimate(a: Assignment): number | Promise<number>;
  /** Why layer l may not take rung r of dimension d (latency alone: it is not faster), or null. */
  exclude(l: number, d: number, r: number): string | null;
  /** Times the answer end to end (ratio to float) again and completes the report; `recorded` is its trial's latency. */
  finish(a: Assignment | null, recorded?: number): Promise<LatencyObjectiveReport>;
  dispose(): Promise<void>;
}

export async function openLatencyObjective(
  float: Model, label: string, layers: readonly string[], dims: readonly Dimension[], names: readonly ObjectiveName[],
  o: LatencyObjectiveOptions, modelDigest: string,
  onEntry?: (layer: string, rung: QuantOption | number) => void,
  statistics?: StatisticsMemory,
): Promise<LatencyObjective> {
  const settings = { runs: o.runs, repeats: o.repeats, batchSize: o.batchSize };
  const meter = await LatencyMeter.open(float, label, settings, statistics);
  const base = { settings: { ...settings, threads: 1 as const, runtime: 'onnxruntime' as const } };
  if (dims.some((d) => d.name === 'static')) {
    const measure = async (a: Assignment): Promise<LatencyEntry> => meter.measure(a, layers, dims);
    return {
      mode: 'end-to-end',
      estimate: async (a) => {
        const e = await measure(a);
        return e.ratio ?? Infinity;
      },
      exclude: () => null,
      finish: async (a, recorded) => {
        const head = { ...base, mode: 'end-to-end' as const, table: [], cached: false };
        if (!a) return { ...head, best: null };
        const e = await measure(a);
        return { ...head, best: answerOf(e, recorded ?? e.ratio ?? Infinity) };
      },
      dispose: () => meter.dispose(),
    };
  }
  try {
    const id: LatencyCacheId = { model: modelDigest, settings, cpu: cpuLine(detectCpu()) };
    const entries = readLatencyCache(o.table, id);
    const cached = Object.keys(entries).length > 0;
    const rows: LatencyObjectiveReport['table'] = [];
    const tables: LatencyTable[] = [];
    for (let d = 0; d < dims.length; d++) {
      const dim = dims[d];
      // Keys name the dimension: prune 0.5 and channels 0.5 are different cuts.
      const cache = { keyOf: (layer: string) => `${dim.name}:${layerShapeKey(float, layer)}`, entries };
      const t = await measureTable(meter, layers, dims, d, (layer, rung) => onEntry?.(layer, rung as QuantOption | number), cache);
      tables.push(t);
      // Every layer and rung but the safest (measureTable copies an entry a layer cannot take to its more aggressive rungs).
      layers.forEach((layer, l) => dim.rungs.slice(0, -1).forEach((rung, r) => {
        const e: LatencyEntry = t.entries[l][r];
        rows.push({ layer: layerShapeKey(float, layer), dimension: dim.name, rung, ratio: e.ratio, spread: e.spread, high: e.high, max: e.max, ...(e.error ? { error: e.error } : {}) });
      }));
    }
    if (o.table) writeLatencyCache(o.table, id, entries);
    const estimate = (a: Assignment): number => 1 + tables.reduce((s, t) => s + (t.estimate(a) - 1), 0);
    const alone = names.length === 1;
    return {
      mode: 'table',
      estimate,
      exclude: (l, d, r) => {
        if (!alone) return null;
        const e = tables[d].entries[l][r];
        if (e.ratio === null) return `cannot: ${e.error ?? 'the plan cannot be applied'}`;
        // Faster means faster in every repeat: a change that does nothing (tfjs dequantizes its weights at
        // load; onnxruntime has no sparse kernel) times below 1 in a repeat half the time.
        return e.max >= 1 ? `not faster than float (latency ratio ${e.ratio.toFixed(3)} median, ${e.max.toFixed(3)} in the slowest of the repeats)` : null;
      },
      finish: async (a) => {
        const head = { ...base, mode: 'table' as const, table: rows, cached };
        if (!a) return { ...head, best: null };
        return { ...head, best: answerOf(await meter.measure(a, layers, dims), Number(estimate(a).toFixed(6))) };
      },
      dispose: () => meter.dispose(),
    };
  } catch (e) {
    await meter.dispose();
    throw e;
  }
}

/** The report's line on the answer: its trial's latency and a new end-to-end measurement. */
function answerOf(e: LatencyEntry, estimate: number): NonNullable<LatencyObjectiveReport['best']> {
  return { estimate, ratio: e.ratio, high: e.high, spread: e.spread, ms: e.ms, floatMs: e.floatMs, ...(e.error ? { error: e.error } : {}) };
}
