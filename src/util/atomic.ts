import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../errors';
import { writeFully } from './file-io';

/**
 * Temp files of this process that are neither renamed into place nor removed yet.
 * removeTempFiles() deletes them: the CLI calls it on SIGINT/SIGTERM and at exit,
 * so a killed run leaves neither a partial output nor a stray temp file.
 */
const liveTemps = new Set<string>();
/** Final names this process renamed temp files onto (what an interrupted run did write). */
const committed: string[] = [];

/** The files this process has written under their final names so far. */
export function committedFiles(): readonly string[] {
  return committed;
}

/** A temp path beside `target` (same filesystem, so rename is atomic), registered for removeTempFiles. */
export function tempPathFor(target: string, tag = 'tmp'): string {
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now()}.${liveTemps.size}.${tag}`);
  liveTemps.add(tmp);
  return tmp;
}

/** Removes a temp file (if present) and forgets it. */
export function removeTemp(tmp: string): void {
  fs.rmSync(tmp, { force: true });
  liveTemps.delete(tmp);
}

/** Renames a temp file onto its target and forgets it. */
export function commitTemp(tmp: string, target: string): void {
  fs.renameSync(tmp, target);
  liveTemps.delete(tmp);
  committed.push(target);
}

/** Deletes every registered temp file (synchronously: safe in exit and signal handlers); returns how many. */
export function removeTempFiles(): number {
  let n = 0;
  for (const t of [...liveTemps]) {
    try {
      fs.rmSync(t, { force: true });
      n++;
    } catch { /* best effort: keep going */ }
    liveTemps.delete(t);
  }
  return n;
}

/** Writes `data` to a new temp file beside `target` and returns its path (not yet renamed). */
export function writeTemp(target: string, data: Uint8Array | string): string {
  const tmp = tempPathFor(target);
  try {
    fs.writeFileSync(tmp, data);
  } catch (e) {
    removeTemp(tmp);
    throw e;
  }
  return tmp;
}

/** Streams into a new temp file beside `target` through `write(fd)` and returns its path (not yet renamed). */
export function writeTempWith(target: string, write: (fd: number) => void): string {
  const tmp = tempPathFor(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    fs.closeSync(fd);
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    removeTemp(tmp);
    throw e;
  }
  return tmp;
}

/** Writes `data` to `target` via a temp file and rename; no partial file is ever left at `target`. */
export function writeFileAtomic(target: string, data: Uint8Array | string): void {
  commitOrRemove(writeTemp(target, data), target);
}

/**
 * Writes with a callback that streams into a temp file descriptor, then renames.
 * Use for outputs too large to build in memory (external data).
 */
export function writeFileAtomicWith(target: string, write: (fd: number) => void): void {
  commitOrRemove(writeTempWith(target, write), target);
}

/** Renames a finished temp file onto `target`, or removes it when the rename fails. */
function commitOrRemove(tmp: string, target: string): void {
  try {
    commitTemp(tmp, target);
  } catch (e) {
    removeTemp(tmp);
    throw e;
  }
}

/**
 * Files written to temp names, renamed into place together by commit() (in order,
 * after every one of them is complete) or removed by abort(). Lets a caller yield to
 * the event loop between writing and renaming, so that a signal that came during a
 * long synchronous write is handled before anything appears under a final name.
 */
export class StagedFiles {
  private readonly staged: { tmp: string; target: string }[] = [];
  private readonly after: (() => void)[] = [];

  add(tmp: string, target: string): void {
    this.staged.push({ tmp, target });
  }

  /** Runs `fn` once every file is in place (e.g. to point lazy tensors at the new data file). */
  onCommit(fn: () => void): void {
    this.after.push(fn);
  }

  commit(): void {
    try {
      for (const s of this.staged) commitTemp(s.tmp, s.target);
    } catch (e) {
      this.abort();
      throw e;
    }
    this.staged.length = 0;
    for (const fn of this.after.splice(0)) fn();
  }

  abort(): void {
    for (const s of this.staged) removeTemp(s.tmp);
    this.staged.length = 0;
    this.after.length = 0;
  }
}

/** Writes all of `data` to `fd` (writeSync may write less than asked; chunks under its 2 GiB limit). */
export function writeAll(fd: number, data: Uint8Array): void {
  writeFully(fd, data);
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
