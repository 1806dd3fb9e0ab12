import type { Chalk } from 'chalk';
import { Progress, startProgress } from './progress';

/** Where a command writes. Tests pass string sinks; main passes process.stdout/stderr. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
}

/** What every command's run() receives besides its own typed options. */
export interface CliContext {
  io: CliIO;
  /** Colours for human output; level 0 under --no-color, NO_COLOR or a non-TTY stdout. */
  chalk: Chalk;
  debug: boolean;
  /** A spinner on stderr when stderr is a TTY; a no-op otherwise (and always under --json). */
  progress(text: string, opts?: { quiet?: boolean }): Progress;
}

export function makeContext(io: CliIO, chalk: Chalk, debug: boolean): CliContext {
  return {
    io, chalk, debug,
    progress: (text, opts) => startProgress(text, { stream: io.stderr, enabled: !opts?.quiet }),
  };
}
