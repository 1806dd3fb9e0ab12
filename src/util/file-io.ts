/**
 * Whole-buffer positional reads and writes in chunks. fs.readSync / fs.writeSync refuse a
 * length over 2^31 − 1 (RangeError), and a tensor of external data may be larger than that
 * (one 2.25 GiB MatMul weight), so every transfer of tensor bytes goes through these.
 */
import { constants } from 'buffer';
import * as fs from 'fs';

/** The largest typed array this Node.js allocates (4 GiB on 64-bit Node 20): a larger tensor cannot be loaded whole. */
export const MAX_BUFFER_BYTES = constants.MAX_LENGTH;

/** Bytes per system call: under the 2^31 − 1 limit of fs.readSync/writeSync. */
export const IO_CHUNK = 1 << 30;

/**
 * Fills `into` from `fd` at `position`; returns the bytes read, fewer only when the file
 * ends first. `chunk` is for tests.
 */
export function readFully(fd: number, into: Uint8Array, position: number, chunk = IO_CHUNK): number {
  let done = 0;
  while (done < into.byteLength) {
    const n = fs.readSync(fd, into, done, Math.min(chunk, into.byteLength - done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `data` to `fd` (at the current position, or at `position` when given). */
export function writeFully(fd: number, data: Uint8Array, position?: number, chunk = IO_CHUNK): void {
  let off = 0;
  while (off < data.byteLength) {
    off += fs.writeSync(fd, data, off, Math.min(chunk, data.byteLength - off), position === undefined ? null : position + off);
  }
}
