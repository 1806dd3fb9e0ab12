import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../errors';

/** A temp path beside `target` (same filesystem, so rename is atomic). */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

/** Writes `data` to `target` via a temp file and rename; no partial file is ever left at `target`. */
export function writeFileAtomic(target: string, data: Uint8Array | string): void {
  const tmp = tempPathFor(target);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes with a callback that streams into a temp file descriptor, then renames.
 * Use for outputs too large to build in memory (external data).
 */
export function writeFileAtomicWith(target: string, write: (fd: number) => void): void {
  const tmp = tempPathFor(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Writes all of `data` to `fd` (writeSync may write less than asked). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.byteLength) off += fs.writeSync(fd, data, off, data.byteLength - off);
}

/** Refuses to let an output replace an input unless the user said --force. */
export function checkNotOverwritingInput(input: string, output: string, force: boolean): void {
  const a = path.resolve(input);
  const b = path.resolve(output);
  if (a === b && !force) throw new UsageError(`output ${output} is the input; pass --force to overwrite it`);
  if (fs.existsSync(a) && fs.existsSync(b) && fs.realpathSync(a) === fs.realpathSync(b) && !force) {
    throw new UsageError(`output ${output} is the input; pass --force to overwrite it`);
  }
}
