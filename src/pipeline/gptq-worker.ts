/**
 * A GPTQ row-range sweep in a node:worker_threads Worker (started by
 * gptq-threads.ts). W, R and the levels are in shared memory; the worker sweeps
 * its rows with its own kernel instance and answers with the losses.
 * Loaded any other way than as that Worker, this module does nothing.
 */
import { parentPort, workerData } from 'worker_threads';
import { useScalarKernel } from '../linalg';
import { GptqRowsJob, sweepGptqRows } from '../passes/reconstruct/gptq';

export interface GptqWorkerInit {
  mcGptqWorker: true;
  /** The main thread's kernel choice (a module's state does not cross threads). */
  scalar: boolean;
}

export interface GptqWorkerTask {
  job: GptqRowsJob;
  wp: Float64Array;
  levels: Int8Array | Uint8Array;
  r0: number;
  r1: number;
}

export type GptqWorkerReply = { kind: 'done'; row: Float64Array; column: Float64Array } | { kind: 'error'; message: string };

const init = workerData as GptqWorkerInit | undefined;
if (parentPort && init?.mcGptqWorker) {
  const port = parentPort;
  useScalarKernel(init.scalar);
  port.on('message', (t: GptqWorkerTask) => {
    try {
      const loss = sweepGptqRows(t.job, t.wp, t.levels, t.r0, t.r1);
      port.postMessage({ kind: 'done', row: loss.row, column: loss.column } satisfies GptqWorkerReply, [loss.row.buffer as ArrayBuffer, loss.column.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) } satisfies GptqWorkerReply);
    }
  });
}
