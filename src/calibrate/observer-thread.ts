/**
 * The main-thread side of the observer thread (observer-worker.ts): histogram
 * binning of batch k runs on a second core while onnxruntime (which runs on
 * the main thread) computes batch k + 1.
 *
 * Each batch's tensors go in one message, their ArrayBuffers moved (transfer
 * list), not copied, when a tensor spans its whole buffer, as onnxruntime-node's
 * outputs do; any other tensor is copied. At most MAX_IN_FLIGHT batches wait for
 * the worker's ack, so peak memory does not grow with the sample count. An
 * error thrown in the worker comes back as the same typed error (McError
 * subclasses by class name, InputError with its file).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { InputError, McError, UnsupportedError, UsageError } from '../errors';
import { StreamingHistogram } from './histogram';
import type { FromObserverThread, ObserverThreadInit, ThreadError, ToObserverThread } from './observer-worker';
import type { StatisticKind, TensorStatisticsState } from './statistics';

/** Batches posted and not yet acknowledged, at most. */
export const MAX_IN_FLIGHT = 2;

/** The compiled worker script beside this file; undefined under ts-jest (src/*.ts has no .js sibling). */
export function observerWorkerScript(): string | undefined {
  const file = path.join(__dirname, 'observer-worker.js');
  return fs.existsSync(file) ? file : undefined;
}

interface Waiter {
  resolve(m: FromObserverThread): void;
  reject(e: Error): void;
}

export class ObserverThread {
  private readonly worker: Worker;
  /** One per posted message, answered in order (the worker handles messages one by one). */
  private readonly waiting: Waiter[] = [];
  private readonly inFlight: Promise<FromObserverThread>[] = [];
  private failure: Error | undefined;

  /** Starts the worker (it boots while the caller goes on, e.g. opening the onnxruntime session). */
  constructor(script: string, opts: { kinds: Exclude<StatisticKind, 'range'>[]; bins: number }, readonly names: readonly string[]) {
    const init: ObserverThreadInit = { mcObserverThread: true, kinds: opts.kinds, bins: opts.bins, names: [...names], useKernel: StreamingHistogram.useKernel };
    this.worker = new Worker(script, { workerData: init });
    this.worker.on('message', (m: FromObserverThread) => {
      if (m.kind === 'error') return this.fail(rebuildError(m.error));
      this.waiting.shift()?.resolve(m);
    });
    this.worker.on('error', (e) => this.fail(new McError(`calibration observer thread failed: ${e.message.split('\n')[0]}`)));
    this.worker.on('exit', (code) => this.fail(new McError(`calibration observer thread exited (code ${code})`)));
  }

  /** Posts one batch (name → values, in observation order); waits first while MAX_IN_FLIGHT batches are unanswered. */
  async update(tensors: [string, Float32Array][]): Promise<void> {
    while (this.inFlight.length >= MAX_IN_FLIGHT) await this.inFlight.shift();
    if (this.failure) throw this.failure;
    const msg: ToObserverThread = { kind: 'batch', tensors };
    const reply = this.expect();
    const moved = new Set<ArrayBuffer>();
    for (const [, d] of tensors) {
      const b = d.buffer;
      if (b instanceof ArrayBuffer && d.byteOffset === 0 && d.byteLength === b.byteLength && !moved.has(b)) moved.add(b);
    }
    try {
      this.worker.postMessage(msg, [...moved]);
    } catch {
      // A buffer that cannot be moved (external memory): send copies of this batch instead.
      this.worker.postMessage({ kind: 'batch', tensors: tensors.map(([n, d]) => [n, d.slice()]) } satisfies ToObserverThread);
    }
    this.inFlight.push(reply);
  }

  /** Waits for every batch, then returns each tensor's histograms. */
  async statistics(): Promise<Map<string, TensorStatisticsState>> {
    while (this.inFlight.length) await this.inFlight.shift();
    if (this.failure) throw this.failure;
    const reply = this.expect();
    this.worker.postMessage({ kind: 'finish' } satisfies ToObserverThread);
    const m = await reply;
    return new Map(m.kind === 'statistics' ? m.tensors : []);
  }

  async close(): Promise<void> {
    this.failure ??= new McError('calibration observer thread closed');
    await this.worker.terminate();
  }

  private expect(): Promise<FromObserverThread> {
    const p = new Promise<FromObserverThread>((resolve, reject) => this.waiting.push({ resolve, reject }));
    p.catch(() => undefined); // awaited later (or never, after a failure): no unhandled rejection
    return p;
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }
}

const TYPED: Record<string, new (message: string) => Error> = {
  McError, UsageError, InputError, UnsupportedError, RangeError, TypeError, Error,
};

/** The worker's error as the class the in-thread path would have thrown. */
export function rebuildError(e: ThreadError): Error {
  const Ctor = TYPED[e.name] ?? McError;
  const err = new Ctor(e.message);
  if (e.file !== undefined) Object.assign(err, { file: e.file });
  return err;
}
