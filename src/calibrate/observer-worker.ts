/**
 * The observer thread of histogram calibration (percentile, entropy, mse):
 * runs as a node:worker_threads Worker started by ObserverThread
 * (observer-thread.ts) and owns the observers of the tensors onnxruntime
 * exposes. Each message is one batch, its tensors in the order the in-thread
 * path feeds them; the worker calls the same Observer.update on each, so the
 * ranges are the ones the in-thread path gives, bit for bit. It answers every
 * batch with an ack (the main thread keeps at most 2 batches in flight) and,
 * at the end, every observer's range.
 *
 * Loaded any other way than as that Worker, this module does nothing.
 */
import { MessageChannel, parentPort, workerData } from 'worker_threads';
import { StreamingHistogram } from './histogram';
import { createObserver, Observer, ObserverOptions } from './observers';

export interface ObserverThreadInit {
  mcObserverThread: true;
  opts: ObserverOptions;
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
  | { kind: 'ranges'; ranges: [string, number, number][] }
  | { kind: 'error'; error: ThreadError };

function serve(init: ObserverThreadInit): void {
  const port = parentPort!;
  StreamingHistogram.useKernel = init.useKernel;
  const observers = new Map<string, Observer>();
  for (const name of init.names) observers.set(name, createObserver(init.opts));
  port.on('message', (m: ToObserverThread) => {
    try {
      if (m.kind === 'batch') {
        for (const [name, data] of m.tensors) observers.get(name)!.update(data);
        release(m.tensors.map(([, d]) => d));
        port.postMessage({ kind: 'ack' } satisfies FromObserverThread);
      } else {
        const ranges: [string, number, number][] = [];
        for (const [name, obs] of observers) {
          const r = obs.range();
          ranges.push([name, r.min, r.max]);
        }
        port.postMessage({ kind: 'ranges', ranges } satisfies FromObserverThread);
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
