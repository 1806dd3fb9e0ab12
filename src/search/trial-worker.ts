/**
 * A trial measurer in a node:worker_threads Worker (started by pool.ts): it
 * loads the float model and opens its own Evaluators once, then measures
 * each assignment it is sent (measure.ts) and answers with the fields.
 * Loaded any other way than as that Worker, this module does nothing.
 */
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import { Evaluator } from '../eval/evaluator';
import type { Budgets, MetricName } from '../eval/types';
import { loadModel } from '../formats';
import { StatisticsMemory } from '../pipeline/static';
import { measureTrial, type Measured } from './measure';
import type { Assignment, Dimension, Scope } from './types';

export interface TrialWorkerInit {
  mcTrialWorker: true;
  model: string;
  layers: string[];
  dims: Dimension[];
  data: string;
  labels?: string;
  metric?: MetricName;
  constraint: Budgets;
  /** Samples of the subset evaluator, or null when trials see all the data. */
  subsetSamples: number | null;
}

export interface TrialWorkerTask {
  seq: number;
  a: Assignment;
  scope: Scope;
  name: string;
}

export type TrialWorkerReply = { kind: 'ready' } | { kind: 'done'; seq: number; measured: Measured } | { kind: 'error'; seq: number; message: string };

const init = workerData as TrialWorkerInit | undefined;
if (parentPort && init?.mcTrialWorker) {
  const port = parentPort;
  void (async () => {
    const model = loadModel(init.model);
    const opts = { baseline: model, baselineName: path.basename(init.model), data: init.data, labels: init.labels, metric: init.metric, runs: 0, budgets: init.constraint };
    const all = await Evaluator.create(opts);
    const subset = init.subsetSamples === null ? all : await Evaluator.create({ ...opts, samples: init.subsetSamples });
    const ctx = { model, label: init.model, layers: init.layers, dims: init.dims, constraint: init.constraint, evaluators: { all, subset }, statistics: new StatisticsMemory() };
    port.on('message', (t: TrialWorkerTask | 'close') => {
      if (t === 'close') {
        void Promise.all([all.dispose(), subset === all ? null : subset.dispose()]).then(() => port.close());
        return;
      }
      measureTrial(ctx, t.a, t.scope, t.name).then(
        (measured) => port.postMessage({ kind: 'done', seq: t.seq, measured } satisfies TrialWorkerReply),
        (e: unknown) => port.postMessage({ kind: 'error', seq: t.seq, message: e instanceof Error ? e.message : String(e) } satisfies TrialWorkerReply),
      );
    });
    port.postMessage({ kind: 'ready' } satisfies TrialWorkerReply);
  })().catch((e: unknown) => port.postMessage({ kind: 'error', seq: -1, message: e instanceof Error ? e.message : String(e) } satisfies TrialWorkerReply));
}
