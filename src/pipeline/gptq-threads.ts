/**
 * GPTQ with the sweep split over threads by rows. The rows of W never interact
 * and each row's operations do not depend on how the rows are split (sweep.ts,
 * gemm.ts), so the levels and weights are the same bytes with 1 or N threads; the
 * total loss too (summed from per-row losses in row order). The factorisation
 * runs on the calling thread first.
 *
 * W (permuted, float64), R and the levels live in SharedArrayBuffers; each
 * worker gets a contiguous range of rows, and the calling thread sweeps the
 * first range itself meanwhile. Without the compiled worker script (under
 * ts-jest) or with threads ≤ 1 it runs on the calling thread.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { kernelKind } from '../linalg';
import { McError } from '../errors';
import { finishGptq, GptqOptions, GptqResult, planGptq, sweepGptqRows } from '../passes/reconstruct/gptq';
import type { GptqWorkerInit, GptqWorkerReply, GptqWorkerTask } from './gptq-worker';
import { SweepLoss } from '../passes/reconstruct/sweep';

/** The compiled worker script beside this file; undefined under ts-jest (src/*.ts has no .js sibling). */
export function gptqWorkerScript(): string | undefined {
  const file = path.join(__dirname, 'gptq-worker.js');
  return fs.existsSync(file) ? file : undefined;
}

export interface GptqThreadedResult extends GptqResult {
  /** Threads that swept rows (1 when it ran on the calling thread only). */
  threads: number;
}

const shared = (bytes: number): SharedArrayBuffer => new SharedArrayBuffer(bytes);

/** gptqQuantize with the sweep on `threads` threads (the calling thread included). */
export async function gptqQuantizeThreaded(
  w: Float32Array | Float64Array, rows: number, cols: number, h: Float64Array, opts: GptqOptions & { threads: number },
): Promise<GptqThreadedResult> {
  const script = gptqWorkerScript();
  const threads = Math.max(1, Math.min(Math.floor(opts.threads), rows, script ? Infinity : 1));
  const plan = planGptq(
    w, rows, cols, h, opts,
    (n) => new Float64Array(shared(n * 8)),
    (n, signed) => (signed ? new Int8Array(shared(n)) : new Uint8Array(shared(n))),
  );
  const bounds = Array.from({ length: threads + 1 }, (_, t) => Math.round((rows * t) / threads));
  const workers: Worker[] = [];
  try {
    const replies: Promise<SweepLoss>[] = [];
    for (let t = 1; t < threads; t++) {
      const init: GptqWorkerInit = { mcGptqWorker: true, scalar: kernelKind() === 'scalar' };
      const worker = new Worker(script!, { workerData: init });
      workers.push(worker);
      replies.push(new Promise<SweepLoss>((resolve, reject) => {
        worker.once('message', (m: GptqWorkerReply) => (m.kind === 'done' ? resolve({ row: m.row, column: m.column }) : reject(new McError(`GPTQ worker: ${m.message}`))));
        worker.once('error', (e) => reject(new McError(`GPTQ worker failed: ${e.message.split('\n')[0]}`)));
        worker.once('exit', (code) => reject(new McError(`GPTQ worker exited (code ${code})`)));
      }));
      const task: GptqWorkerTask = { job: plan.job, wp: plan.wp, levels: plan.levels, r0: bounds[t], r1: bounds[t + 1] };
      worker.postMessage(task);
    }
    const first = sweepGptqRows(plan.job, plan.wp, plan.levels, bounds[0], bounds[1]);
    const rest = await Promise.all(replies);
    return { ...finishGptq(plan, w, [first, ...rest]), threads };
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
  }
}
