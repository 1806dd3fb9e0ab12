/**
 * Weight quantization in a node:worker_threads Worker (started by weight-stream.ts). A job
 * names a float32 weight by its external-data slice (path, offset, length) or carries its
 * bytes; the worker reads it, runs quantizeWeight (SIMD kernel where it applies, as on the
 * main thread) and answers on its own port, then bumps the shared counter so a main thread
 * blocked in Atomics.wait wakes up. Loaded any other way than as that Worker, it does nothing.
 */
import * as fs from 'fs';
import { MessagePort, workerData } from 'worker_threads';
import { InputError } from '../errors';
import { readFully } from '../util/file-io';
import type { IntRange } from '../passes/quantize/params';
import { useScalarWeightLoops, weightKernel } from '../passes/quantize/weight-kernel';
import { quantizeWeight, QuantizedWeight, WeightLayout } from '../passes/quantize/weights';
import { MatMulNBitsWeight, toMatMulNBits } from '../passes/quantize/int4';

export interface WeightWorkerInit {
  mcWeightWorker: true;
  port: MessagePort;
  /** [0]: replies posted so far (by every worker); the main thread waits on it. */
  signal: Int32Array;
  /** The main thread's choice of loops (a module's state does not cross threads). */
  scalar: boolean;
}

export interface WeightJob {
  id: number;
  name: string;
  shape: number[];
  layout: WeightLayout;
  range: IntRange;
  source: { path: string; offset: number; length: number } | { bytes: Uint8Array };
  /** Also lay the result out for MatMulNBits along this K axis (the pass's likely int4 form). */
  pack?: 0 | 1;
}

export type WeightReply =
  | { id: number; ok: true; qw: QuantizedWeight; packed?: MatMulNBitsWeight }
  | { id: number; ok: false; message: string; input: boolean };

/** The read buffer, kept between jobs: a fresh 64 MiB array per weight costs page faults and zeroing. */
let buffer = new Float32Array(0);

/**
 * The weight's floats: read straight into the SIMD kernel's memory when it has one (it then
 * works in place), else into the reused buffer.
 */
function readSlice(file: string, offset: number, length: number, name: string, maxLen: number): Float32Array {
  let out = weightKernel()?.inputBuffer(length / 4, maxLen);
  if (!out) {
    if (buffer.length < length / 4) buffer = new Float32Array(length / 4);
    out = buffer.subarray(0, length / 4);
  }
  const bytes = new Uint8Array(out.buffer, out.byteOffset, length);
  const fd = fs.openSync(file, 'r');
  try {
    if (readFully(fd, bytes, offset) < length) throw new InputError(`external data file ended early for tensor '${name}'`, file);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** The longest row the kernel may see for this shape: the last dim, or everything after the first. */
function widestRow(shape: readonly number[]): number {
  const n = shape.reduce((a, b) => a * b, 1);
  return Math.max(1, shape[shape.length - 1] ?? 1, shape.length ? n / Math.max(1, shape[0]) : 1);
}

function run(job: WeightJob): WeightReply {
  try {
    const s = job.source;
    const w = 'path' in s ? readSlice(s.path, s.offset, s.length, job.name, widestRow(job.shape)) : new Float32Array(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength / 4);
    const qw = quantizeWeight(w, job.shape, job.layout, job.range, job.name);
    return { id: job.id, ok: true, qw, packed: job.pack === undefined ? undefined : toMatMulNBits(qw, job.shape, job.pack) };
  } catch (e) {
    return { id: job.id, ok: false, message: e instanceof Error ? e.message : String(e), input: e instanceof InputError };
  }
}

const init = workerData as WeightWorkerInit | undefined;
if (init?.mcWeightWorker) {
  useScalarWeightLoops(init.scalar);
  init.port.on('message', (job: WeightJob) => {
    const reply = run(job);
    const transfer = reply.ok ? [reply.qw.values.buffer as ArrayBuffer, ...(reply.packed ? [reply.packed.b.buffer as ArrayBuffer] : [])] : [];
    init.port.postMessage(reply, transfer);
    Atomics.add(init.signal, 0, 1);
    Atomics.notify(init.signal, 0);
  });
}
