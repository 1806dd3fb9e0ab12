/**
 * Progress spinners for long steps. They draw on stderr, and only when stderr
 * is a terminal, so stdout stays clean for --json and pipes never see escape codes.
 */
import ora from 'ora';

export interface Progress {
  /** Replaces the spinner text. */
  update(text: string): void;
  /** Stops with a tick and `text` (or the current text). */
  succeed(text?: string): void;
  /** Stops with a cross. */
  fail(text?: string): void;
  /** Stops and clears the line. */
  stop(): void;
}

export interface ProgressOptions {
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** false forces the no-op (e.g. --json or --quiet). */
  enabled?: boolean;
}

const NOOP: Progress = { update() {}, succeed() {}, fail() {}, stop() {} };

export function startProgress(text: string, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.enabled === false || stream.isTTY !== true) return NOOP;
  const spinner = ora({ text, stream: stream as NodeJS.WritableStream }).start();
  return {
    update: (t) => { spinner.text = t; },
    succeed: (t) => { spinner.succeed(t); },
    fail: (t) => { spinner.fail(t); },
    stop: () => { spinner.stop(); },
  };
}

/** Runs `fn` under a spinner: succeed on return, fail (and rethrow) on error. */
export async function withProgress<T>(text: string, fn: (p: Progress) => T | Promise<T>, opts: ProgressOptions = {}): Promise<T> {
  const p = startProgress(text, opts);
  try {
    const result = await fn(p);
    p.stop();
    return result;
  } catch (e) {
    p.fail();
    throw e;
  }
}
