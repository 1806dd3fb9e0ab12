/**
 * Weight-only quantization of a model too large to hold twice (issue 15 §2): the quantize
 * pass's WeightHooks (passes/quantize/quantize-pass.ts) implemented with
 *  - worker threads over tensors: the weights the pass will quantize (plannedWeightForms, in
 *    its order) are handed to workers ahead of the pass, each worker reading its weight's
 *    external-data slice itself, so the calling thread neither reads nor quantizes floats;
 *    the pass is synchronous, so it blocks in Atomics.wait until its weight is ready and
 *    takes the reply with receiveMessageOnPort. At most `threads + 1` weights are in flight.
 *  - a spill file beside the output: each large tensor the pass builds is written there
 *    and becomes a lazy tensor over it, so the quantized model never sits in memory; the
 *    writer then streams it into the output's data file (and points the tensors there).
 * Same levels and bytes as the plain pass: a worker runs the same quantizeWeight.
 * Without the compiled worker script (under ts-jest) or with threads ≤ 1, weights are
 * quantized on the calling thread (the spill still applies).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from 'worker_threads';
import { InputError, McError } from '../errors';
import { onnxStorage } from '../formats/onnx/tensor-codec';
import type { Model, Tensor, Value } from '../ir';
import type { QuantizeOptions, WeightHooks } from '../passes';
import type { IntRange } from '../passes/quantize/params';
import { plannedWeightForms } from '../passes/quantize/quantize-pass';
import { scalarWeightLoops } from '../passes/quantize/weight-kernel';
import { quantizeWeight, type QuantizedWeight, type WeightLayout } from '../passes/quantize/weights';
import { type MatMulNBitsWeight, toMatMulNBits } from '../passes/quantize/int4';
import { removeTemp, tempPathFor, writeAll } from '../util/atomic';
import { MAX_BUFFER_BYTES, readFully } from '../util/file-io';
import type { WeightJob, WeightReply, WeightWorkerInit } from './weight-worker';

export interface WeightStreamOptions {
  /** Folder of the spill file (the output's folder: same disk, removed with the run's temp files). */
  spillDir: string;
  /** Threads quantizing weights; default the CPUs (at most 8); 1: the calling thread only. */
  threads?: number;
}

/** Built tensors smaller than this stay in memory (scales, zero points: a few KiB per weight). */
const PARK_MIN_BYTES = 64 * 1024;
/** A weight not back from its worker after this long is an error, not a wait. */
const JOB_TIMEOUT_MS = 10 * 60 * 1000;

/** The compiled worker script beside this file; undefined under ts-jest (src/*.ts has no .js sibling). */
function workerScript(): string | undefined {
  const file = path.join(__dirname, 'weight-worker.js');
  return fs.existsSync(file) ? file : undefined;
}

const keyOf = (name: string, layout: WeightLayout, range: IntRange): string => `${name}\u0000${JSON.stringify(layout)}\u0000${JSON.stringify(range)}`;

interface Planned {
  key: string;
  job: WeightJob;
  tensor: Tensor;
  /** Set once dispatched: the worker's port. */
  port?: MessagePort;
}

export class WeightStream implements WeightHooks {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly planned: Planned[] = [];
  private readonly replies = new Map<number, WeightReply>();
  private next = 0;
  private dispatched = 0;
  private turn = 0;
  private spill?: { path: string; fd: number; offset: number };
  /** Weights quantized on workers / on the calling thread (fallback). */
  readonly counts = { threaded: 0, local: 0, parked: 0, parkedBytes: 0 };

  constructor(private readonly o: WeightStreamOptions) {}

  /** Plans the weights the pass will quantize with `opts` and starts the workers; the pass runs next. */
  prepare(model: Model, opts: QuantizeOptions): void {
    const o = this.o;
    const script = workerScript();
    const threads = Math.max(1, Math.min(8, Math.floor(o.threads ?? (os.availableParallelism?.() ?? os.cpus().length))));
    if (!script || threads <= 1 || model.format !== 'onnx') return;
    let id = 0;
    for (const [weight, forms] of plannedWeightForms(model, opts)) {
      const t = weight.const;
      // Over one buffer's size the calling thread's reader gives the clear refusal.
      if (!t || t.dtype !== 'float32' || opts.levels?.has(weight.name) || t.byteLength > MAX_BUFFER_BYTES) continue;
      const ref = t.isLazy ? onnxStorage(t)?.externalRef : undefined;
      if (t.isLazy && !ref) continue;
      for (const f of forms) {
        const source = ref ? { path: ref.path, offset: ref.offset, length: t.byteLength } : undefined;
        // 4-bit blocks of a 2-D weight: the pass will most likely want them laid out for MatMulNBits.
        const int4 = (f.range.dtype === 'int4' || f.range.dtype === 'uint4') && f.layout.granularity === 'block' && t.shape.length === 2;
        const pack = int4 ? (f.layout.granularity === 'block' && f.layout.axis === 0 ? 0 : 1) : undefined;
        this.planned.push({ key: keyOf(weight.name, f.layout, f.range), tensor: t, job: { id: id++, name: weight.name, shape: [...t.shape], layout: f.layout, range: f.range, source: source ?? { bytes: new Uint8Array(0) }, pack } });
      }
    }
    if (!this.planned.length) return;
    for (let i = 0; i < Math.min(threads, this.planned.length); i++) {
      const { port1, port2 } = new MessageChannel();
      const init: WeightWorkerInit = { mcWeightWorker: true, port: port2, signal: this.signal, scalar: scalarWeightLoops() };
      const w = new Worker(script, { workerData: init, transferList: [port2] });
      w.unref();
      this.workers.push(w);
      this.ports.push(port1);
    }
  }

  /** The pass's quantizer: a planned weight comes from its worker, anything else is quantized here (undefined). */
  quantize(weight: Value, layout: WeightLayout, range: IntRange): QuantizedWeight {
    const key = keyOf(weight.name, layout, range);
    let at = -1;
    for (let i = this.next; i < this.planned.length; i++) if (this.planned[i].key === key) { at = i; break; }
    if (at < 0 || !this.workers.length) return this.local(weight, layout, range);
    // Planned weights the pass skipped (it chose otherwise): their replies are dropped when they come.
    for (let i = this.next; i < at; i++) this.forget(this.planned[i]);
    this.dispatched = Math.max(this.dispatched, at);
    this.next = at + 1;
    this.fill(at);
    const reply = this.take(this.planned[at]);
    this.fill(this.next);
    if (!reply.ok) throw reply.input ? new InputError(reply.message) : new McError(`weight worker: ${reply.message}`);
    this.counts.threaded++;
    if (reply.packed && reply.ok) this.packed.set(reply.qw, { kAxis: this.planned[at].job.pack!, w: reply.packed });
    return reply.qw;
  }

  /** MatMulNBits layouts the workers made alongside the levels. */
  private readonly packed = new WeakMap<QuantizedWeight, { kAxis: 0 | 1; w: MatMulNBitsWeight }>();

  /** The pass's MatMulNBits layout: the worker's when it made this one, else computed here. */
  toMatMulNBits(qw: QuantizedWeight, shape: readonly number[], kAxis: 0 | 1): MatMulNBitsWeight {
    const p = this.packed.get(qw);
    if (p && p.kAxis === kAxis) {
      this.packed.delete(qw);
      return p.w;
    }
    return toMatMulNBits(qw, shape, kAxis);
  }

  /** Moves a large built tensor's bytes to the spill file; the tensor reads them back when written. */
  park(t: Tensor): void {
    if (t.isLazy || t.dtype === 'string' || t.byteLength < PARK_MIN_BYTES) return;
    const s = this.spillFile();
    const bytes = t.bytes();
    const offset = s.offset;
    const length = bytes.byteLength;
    try {
      writeAll(s.fd, bytes);
    } catch (e) {
      // A full disk or a read-only folder is the user's environment, not a bug (as formats/saveModel says it).
      throw new InputError(`cannot write the spill file beside the output: ${(e as Error).message}`, s.path);
    }
    s.offset += length;
    const fd = s.fd;
    t.setData(t.dtype, [...t.shape], {
      kind: 'lazy', byteLength: length,
      load: () => {
        const out = new Uint8Array(length);
        if (readFully(fd, out, offset) < length) throw new McError(`spill file ${s.path} ended early`);
        return out;
      },
    });
    this.counts.parked++;
    this.counts.parkedBytes += length;
  }

  private spillFile(): { path: string; fd: number; offset: number } {
    if (!this.spill) {
      const p = tempPathFor(path.join(this.o.spillDir, 'mc-weights'), 'spill');
      let fd: number;
      try {
        fd = fs.openSync(p, 'w+');
      } catch (e) {
        removeTemp(p);
        throw new InputError(`cannot create a spill file beside the output: ${(e as Error).message}`, p);
      }
      this.spill = { path: p, fd, offset: 0 };
    }
    return this.spill;
  }

  /** Stops the workers (the spill file stays: the model's parked tensors read from it until it is written). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
    for (const p of this.ports.splice(0)) p.close();
  }

  /** Removes the spill file; call once the model is written (or abandoned). */
  removeSpill(): void {
    if (!this.spill) return;
    try { fs.closeSync(this.spill.fd); } catch { /* already closed */ }
    removeTemp(this.spill.path);
    this.spill = undefined;
  }

  /** Not planned (or no workers): the pass's own path, quantizeWeight on this thread. */
  private local(weight: Value, layout: WeightLayout, range: IntRange): QuantizedWeight {
    this.counts.local++;
    const t = weight.const!;
    return quantizeWeight(t.toFloat32(), t.shape, layout, range, weight.name);
  }

  /** Dispatches planned jobs from `from` until threads + 1 are outstanding. */
  private fill(from: number): void {
    const limit = this.workers.length + 1;
    for (let i = Math.max(from, this.dispatched); i < this.planned.length && this.outstanding() < limit; i++) {
      const p = this.planned[i];
      const port = this.ports[this.turn++ % this.ports.length];
      p.port = port;
      let job = p.job;
      if ('bytes' in job.source) {
        // An in-memory weight: a copy travels (transferred) so the model's own bytes stay put.
        job = { ...job, source: { bytes: p.tensor.bytes().slice() } };
        port.postMessage(job, [(job.source as { bytes: Uint8Array }).bytes.buffer as ArrayBuffer]);
      } else {
        port.postMessage(job);
      }
      this.dispatched = i + 1;
    }
  }

  private outstanding(): number {
    let n = 0;
    for (let i = this.next; i < this.dispatched; i++) if (!this.replies.has(this.planned[i].job.id)) n++;
    return n + this.replies.size;
  }

  private forget(p: Planned): void {
    if (p.port) this.dropped.add(p.job.id);
    this.replies.delete(p.job.id);
  }

  private readonly dropped = new Set<number>();

  private drain(): void {
    for (const port of this.ports) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const r = m.message as WeightReply;
        if (this.dropped.delete(r.id)) continue;
        this.replies.set(r.id, r);
      }
    }
  }

  private take(p: Planned): WeightReply {
    const started = Date.now();
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      this.drain();
      const r = this.replies.get(p.job.id);
      if (r) {
        this.replies.delete(p.job.id);
        return r;
      }
      if (Date.now() - started > JOB_TIMEOUT_MS) throw new McError(`weight worker: no reply for '${p.job.name}' in ${JOB_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.signal, 0, seen, 1000);
    }
  }
}
