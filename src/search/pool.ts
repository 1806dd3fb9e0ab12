/**
 * `--workers N`: N worker threads, each with its own model and Evaluators
 * (trial-worker.ts), measuring one trial at a time. The runner hands each
 * free worker the next trial of a batch in order, so which trials run, their
 * ids and the log are the same as with one worker; only the wall time differs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { McError } from '../errors';
import type { Measured } from './measure';
import type { TrialWorkerInit, TrialWorkerReply, TrialWorkerTask } from './trial-worker';
import type { Assignment, Scope } from './types';

/** The compiled worker script beside this file; undefined under ts-jest (src/*.ts has no .js sibling). */
export function trialWorkerScript(): string | undefined {
  const file = path.join(__dirname, 'trial-worker.js');
  return fs.existsSync(file) ? file : undefined;
}

interface Lane {
  worker: Worker;
  pending: Map<number, { resolve: (m: Measured) => void; reject: (e: Error) => void }>;
}

export class TrialPool {
  private seq = 0;
  /** Measurements not yet answered (a speculative trial may still run when the search ends). */
  private readonly inflight = new Set<Promise<unknown>>();
  private constructor(private readonly lanes: Lane[]) {}

  get size(): number {
    return this.lanes.length;
  }

  /** Starts `n` workers and waits until each has its model and data open. */
  static async start(n: number, init: Omit<TrialWorkerInit, 'mcTrialWorker'>): Promise<TrialPool> {
    const script = trialWorkerScript();
    if (!script) throw new McError('--workers needs the built mc (dist/search/trial-worker.js); run npm run build');
    const lanes: Lane[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const worker = new Worker(script, { workerData: { mcTrialWorker: true, ...init } satisfies TrialWorkerInit });
        const lane: Lane = { worker, pending: new Map() };
        lanes.push(lane);
        await new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('message', (m: TrialWorkerReply) => (m.kind === 'ready' ? resolve() : reject(new McError(`trial worker: ${m.kind === 'error' ? m.message : 'bad start'}`))));
        });
        worker.on('message', (m: TrialWorkerReply) => {
          if (m.kind === 'ready') return;
          const p = lane.pending.get(m.seq);
          lane.pending.delete(m.seq);
          if (m.kind === 'done') p?.resolve(m.measured);
          else p?.reject(new McError(`trial worker: ${m.message}`));
        });
        worker.on('error', (e) => {
          for (const p of lane.pending.values()) p.reject(e);
          lane.pending.clear();
        });
        // A worker that dies without an error (killed by the system) answers nothing: fail its trials.
        worker.on('exit', (code) => {
          for (const p of lane.pending.values()) p.reject(new McError(`trial worker stopped (exit ${code}) while measuring`));
          lane.pending.clear();
        });
      }
    } catch (e) {
      await Promise.all(lanes.map((l) => l.worker.terminate()));
      throw e;
    }
    return new TrialPool(lanes);
  }

  /** Measures on lane `i` (the runner keeps one trial per lane at a time). */
  measure(i: number, a: Assignment, scope: Scope, name: string): Promise<Measured> {
    const lane = this.lanes[i];
    const seq = this.seq++;
    const p = new Promise<Measured>((resolve, reject) => {
      lane.pending.set(seq, { resolve, reject });
      lane.worker.postMessage({ seq, a, scope, name } satisfies TrialWorkerTask);
    });
    const settled = p.then(() => undefined, () => undefined).finally(() => this.inflight.delete(settled));
    this.inflight.add(settled);
    return p;
  }

  /**
   * Waits for the measurements still running, then stops the workers: terminating a worker inside
   * an onnxruntime run aborts the whole process (a native Napi::Error), which a speculative trial
   * left running at the end of a search did, 1 run in 3.
   */
  async close(): Promise<void> {
    await Promise.all([...this.inflight]);
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }
}
