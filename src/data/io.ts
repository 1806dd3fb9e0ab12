import * as fs from 'fs';
import { InputError } from '../errors';

/**
 * Reads exactly `length` bytes at `position` into a fresh buffer (so typed
 * views over it are aligned). A short read means the file ended early.
 */
export function readAt(fd: number, length: number, position: number, file: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw new InputError(`file ends early: wanted ${length} bytes at offset ${position}, got ${done}`, file);
    done += n;
  }
  return out;
}

/** Opens for reading, turning a missing or unreadable path into an InputError. */
export function openForRead(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    throw new InputError(ioReason(e), path);
  }
}

export function statOrThrow(path: string): fs.Stats {
  try {
    return fs.statSync(path);
  } catch (e) {
    throw new InputError(ioReason(e), path);
  }
}

function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder, expected a file';
  return `cannot read (${code ?? String(e)})`;
}
