/**
 * Evaluator: many candidates, one baseline, one data set: what a search needs.
 *
 *   const float = loadModel('model.onnx');
 *   const ev = await Evaluator.create({ baseline: float, data: 'eval-x.npy', labels: 'eval-y.npy', runs: 0 });
 *   try {
 *     for (const recipe of recipes) {
 *       const m = float.clone();            // O(nodes); weights shared copy-on-write (ir/clone.ts)
 *       applyRecipe(m, recipe);             // passes rewrite the clone, never `float`
 *       const r = await ev.evaluate(m, { name: recipe.name });
 *       // r is the EvalReport evaluate({ candidate: m, baseline: float, ... }) gives: accuracy,
 *       // fidelity, size (the bytes m would be written as), budgets
 *     }
 *   } finally {
 *     await ev.dispose();
 *   }
 *
 * What is paid once, in create(): opening the baseline in its runtime, reading
 * and decoding the data and labels (kept in memory as batches when they fit in
 * KEEP_BYTES, else streamed again for each candidate), running the baseline
 * over the data (its outputs kept when they fit in KEEP_BYTES) and measuring
 * the baseline's size. What each evaluate() pays: encoding the candidate (to
 * ONNX bytes, or to tfjs model.json + shards, in memory), opening it in the
 * runtime, one run over the data, its size (one encode and gzip of its bytes)
 * and, with `runs` > 0, its latency next to the baseline's (measured afresh
 * each time, alternating, so the ratio compares like with like).
 *
 * Candidates are paths or Models; a Model is never changed. Without a
 * baseline the data is opened with the first candidate's inputs and every
 * later candidate must take the same. --per-layer is not offered here (it
 * needs a second, instrumented session per model): use evaluate().
 */
import { UsageError } from '../errors';
import type { HostTensor, ModelSource } from '../runtime';
import { checkLabelCount, checkSameInputs, alignOutputs, inputSpecs, openEvalData, openEvalLabels, synthesizeFeeds, type EvalData } from './inputs';
import type { InputSpec } from '../data/types';
import {
  dataPass, feedsOf, finishReport, modelReport, openSide, resolveSettings, type FeedBatch, type Side,
} from './evaluate';
import { measureLatency } from './latency';
import { measureSize } from './size';
import type { Budgets, EvalOptions, EvalReport, MetricName, ModelReport, Settings, SizeReport } from './types';
import type { NumericArray } from '../ir';

/** Data and baseline outputs are kept in memory up to this many bytes each; beyond, they are read and run again per candidate. */
export const KEEP_BYTES = 512 * 2 ** 20;

export type EvaluatorOptions = Omit<EvalOptions, 'candidate' | 'candidateName' | 'perLayer' | 'onProgress'>;

export interface EvaluateCandidateOptions {
  /** What the report calls an in-memory candidate (see EvalOptions.candidateName). */
  name?: string;
  onProgress?: (done: number, total: number) => void;
}

interface Kept {
  data: EvalData;
  /** The batches with copies of their inputs, or null when they did not fit (streamed per candidate). */
  batches: FeedBatch[] | null;
  labels: HostTensor[] | null;
}

export class Evaluator {
  private kept: Kept | null = null;
  private specs: InputSpec[] | null = null;
  private baseSize: SizeReport | null = null;

  private constructor(
    private readonly s: Settings & { budgets: Budgets },
    private readonly opts: EvaluatorOptions,
    private readonly base: Side | null,
  ) {}

  static async create(opts: EvaluatorOptions): Promise<Evaluator> {
    const s = resolveSettings(opts);
    let base: Side | null = null;
    if (opts.baseline) base = await openSide(opts.baseline, opts.baselineName, s.threads);
    const ev = new Evaluator(s, opts, base);
    try {
      if (base) {
        ev.specs = inputSpecs(base.runner);
        if (s.data) await ev.keepData(ev.specs);
        ev.baseSize = await measureSize(base.source, opts.baselineName, base.encoded);
        // Kept only to measure the size: the runner holds its own copy.
        delete base.encoded;
      }
    } catch (e) {
      await ev.dispose();
      throw e;
    }
    return ev;
  }

  /** Evaluates one candidate against the baseline and data given to create(); the same report evaluate() gives. */
  async evaluate(candidate: ModelSource, o: EvaluateCandidateOptions = {}): Promise<EvalReport> {
    const s = this.s;
    const cand: Side = await openSide(candidate, o.name, s.threads);
    const name = cand.path;
    try {
      const specs = inputSpecs(cand.runner);
      let outputMap: Map<string, string> | null = null;
      const base = this.base && { ...this.base, accuracy: null };
      if (base) {
        checkSameInputs(specs, this.specs!, base.path);
        outputMap = alignOutputs(cand.runner.outputs, base.runner.outputs, base.path);
      } else if (this.specs) {
        checkSameInputs(this.specs, specs, name);
      } else {
        this.specs = specs;
        if (s.data) await this.keepData(specs);
      }
      const kept = this.kept;
      let fidelity = null;
      let metric: MetricName | null = s.metric;
      if (kept) {
        const { data } = kept;
        const batches = kept.batches ?? streamed(data);
        const labels = kept.labels ?? (s.labels ? openEvalLabels(s.labels).batches(data.batchSize, data.samples) : null);
        const r = await dataPass(cand, base, outputMap, batches, labels, s.labels, metric, null, data.samples, o.onProgress);
        fidelity = r.fidelity;
        metric = r.metric;
      }
      let latency = null;
      if (s.runs > 0) {
        const first = kept ? (kept.batches?.[0]?.feeds ?? firstOf(kept.data)) : synthesizeFeeds(specs, s.batchSize);
        const batchSize = kept ? Math.min(kept.data.batchSize, kept.data.samples) : s.batchSize;
        latency = await measureLatency(cand.runner, first, base?.runner ?? null, base ? first : null, {
          runs: s.runs, warmup: s.warmup, batchSize, input: kept ? 'data' : 'synthetic',
        });
      }
      const candidate_: ModelReport = await modelReport(cand, o.name, latency?.candidate ?? null, fidelity);
      const baseline: ModelReport | null = base && await modelReport(base, this.opts.baselineName, latency?.baseline ?? null, null, this.baseSize ?? undefined);
      return finishReport(s, { metric, batchSize: kept?.data.batchSize ?? s.batchSize, samples: kept?.data.samples ?? null }, candidate_, baseline, latency?.ratio ?? null);
    } finally {
      await cand.runner.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.base?.runner.dispose();
  }

  /** Opens the data for `specs`, keeps its batches (and the baseline's outputs on them) when they fit. */
  private async keepData(specs: InputSpec[]): Promise<void> {
    const s = this.s;
    const data = openEvalData(s.data!, specs, s.batchSize, s.samples ?? undefined);
    let labels: HostTensor[] | null = null;
    if (s.labels) {
      const l = openEvalLabels(s.labels);
      checkLabelCount(l, s.labels, data.dataset);
      labels = [...l.batches(data.batchSize, data.samples)].map((t) => ({ ...t, data: copyOf(t.data) }));
    }
    let batches: FeedBatch[] | null = [];
    let bytes = 0;
    for (const b of data.dataset.batches(data.batchSize, data.samples)) {
      const feeds = new Map([...feedsOf(b)].map(([k, t]) => [k, { ...t, shape: [...t.shape], data: copyOf(t.data) }]));
      for (const t of feeds.values()) bytes += t.data.byteLength;
      if (bytes > KEEP_BYTES) {
        batches = null;
        break;
      }
      batches.push({ feeds, count: b.count });
    }
    if (batches && this.base) {
      let out = 0;
      for (const b of batches) {
        b.baseline = await this.base.runner.run(b.feeds);
        for (const t of b.baseline.values()) out += t.data.byteLength;
        if (out > KEEP_BYTES) {
          for (const x of batches) delete x.baseline;
          break;
        }
      }
    }
    this.kept = { data, batches, labels };
  }
}

function* streamed(d: EvalData): Iterable<FeedBatch> {
  for (const b of d.dataset.batches(d.batchSize, d.samples)) yield { feeds: feedsOf(b), count: b.count };
}

function firstOf(d: EvalData): Map<string, HostTensor> {
  for (const b of streamed(d)) return b.feeds;
  throw new UsageError(`${d.dataset.path}: no samples`);
}

/** A private copy of a batch's array (batches may view a reader's buffer; a Buffer's slice would be a view). */
function copyOf(a: NumericArray): NumericArray {
  return a instanceof Uint8Array ? Uint8Array.from(a) : a.slice();
}
