/**
 * The observer thread of histogram statistics (percentile, entropy, mse):
 * runs as a node:worker_threads Worker started by ObserverThread
 * (observer-thread.ts) and owns the histograms of the tensors onnxruntime
 * exposes. Each message is one batch, its tensors in the order the in-thread
 * path feeds them; the worker calls the same TensorStatistics.update on each,
 * so the histograms are the ones the in-thread path builds, bit for bit. It
 * answers every batch with an ack (the main thread keeps at most 2 batches in
 * flight) and, at the end, every tensor's histograms as plain data.
 *
 * Loaded any other way than as that Worker, this module does nothing.
 */
import { MessageChannel, parentPort, workerData } from 'worker_threads';
import { StreamingHistogram } from './histogram';
import { StatisticKind, TensorStatistics, TensorStatisticsState, tensorState } from './statistics';

export interface ObserverThreadInit {
  mcObserverThread: true;
  /** Histogram kinds only: batch ranges come from onnxruntime's reductions on the main thread. */
  kinds: Exclude<StatisticKind, 'range'>[];
  bins: number;
  names: string[];
  /** StreamingHistogram.useKernel of the main thread (a static does not cross threads). */
  useKernel: boolean;
}

export type ToObserverThread =
  | { kind: 'batch'; tensors: [string, Float32Array][] }
  | { kind: 'finish' };

/** An error as it crosses threads: class name, message, and InputError's file. */
export interface ThreadError {
  name: string;
  message: string;
  file?: string;
}

export type FromObserverThread =
  | { kind: 'ack' }
  | { kind: 'statistics'; tensors: [string, TensorStatisticsState][] }
  | { kind: 'error'; error: ThreadError };

function serve(init: ObserverThreadInit): void {
  const port = parentPort!;
  StreamingHistogram.useKernel = init.useKernel;
  const observers = new Map<string, TensorStatistics>();
  const kinds = new Set<StatisticKind>(init.kinds);
  for (const name of init.names) observers.set(name, new TensorStatistics(kinds, init.bins));
  port.on('message', (m: ToObserverThread) => {
    try {
      if (m.kind === 'batch') {
        for (const [name, data] of m.tensors) observers.get(name)!.update(data, [data.length], true);
        release(m.tensors.map(([, d]) => d));
        port.postMessage({ kind: 'ack' } satisfies FromObserverThread);
      } else {
        const tensors: [string, TensorStatisticsState][] = [];
        for (const [name, t] of observers) tensors.push([name, tensorState(t)]);
        port.postMessage({ kind: 'statistics', tensors } satisfies FromObserverThread);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const file = (err as { file?: unknown }).file;
      const error: ThreadError = { name: err.name, message: err.message, ...(typeof file === 'string' ? { file } : {}) };
      port.postMessage({ kind: 'error', error } satisfies FromObserverThread);
    }
  });
}

/**
 * Frees the batch's memory now: moved into a message on a channel closed at
 * once, a buffer's backing store is dropped with the message, whereas left to
 * this thread's GC (which allocates little and rarely collects) tens of MiB
 * of spent batches would pile up first.
 */
function release(arrays: Float32Array[]): void {
  const buffers = new Set<ArrayBuffer>();
  for (const d of arrays) if (d.buffer instanceof ArrayBuffer && d.buffer.byteLength > 0) buffers.add(d.buffer);
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(null, [...buffers]);
  } catch {
    // not detachable: left to the GC
  }
  port1.close();
  port2.close();
}

const init = workerData as ObserverThreadInit | undefined;
if (parentPort && init?.mcObserverThread === true) serve(init);
