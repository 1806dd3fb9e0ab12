/**
 * The `mc` program. This file holds the CLI's single exit point: main() sets
 * process.exitCode from runCli(), which maps typed errors to exit codes
 * (src/errors.ts): 0 ok, 1 a gate failed, 2 bad usage or input, 3 internal error;
 * and its signal handlers: SIGINT / SIGTERM remove this run's temp files and exit
 * 130 / 143 (128 + the signal number, as shells report a killed command).
 */
import chalk from 'chalk';
import { EXIT, exitCodeOf, IncompleteError } from '../errors';
import type { RegisteredCommand } from './command';
import { COMMANDS } from './commands';
import { CliIO, makeContext } from './context';
import { parseArgv } from './program';
import { committedFiles, removeTempFiles } from '../util/atomic';

export const BUG_HINT = 'this is a bug in mc; please report it with the command you ran and the mc version (rerun with --debug for the stack trace)';

/** Runs the CLI on user arguments and returns the exit code. Never exits the process. */
export async function runCli(args: readonly string[], io: CliIO, commands: readonly RegisteredCommand[] = COMMANDS): Promise<number> {
  // Known before parsing so that parse failures honour it too.
  let debug = args.includes('--debug');
  try {
    const outcome = parseArgv(args, commands, { out: (s) => io.stdout.write(s), err: (s) => io.stderr.write(s) });
    if (outcome.kind === 'exit') return outcome.code;
    debug = outcome.global.debug;
    const noColor = !outcome.global.color || (io.env.NO_COLOR ?? '') !== '';
    const colors = noColor ? new chalk.Instance({ level: 0 }) : chalk;
    if (noColor) chalk.level = 0; // reporters that use the shared chalk instance follow too
    return await outcome.command.run(makeContext(io, colors, debug));
  } catch (e) {
    return reportError(e, io, debug);
  }
}

/** Prints `e` as one `mc: ...` line on stderr and returns its exit code. */
export function reportError(e: unknown, io: Pick<CliIO, 'stderr'>, debug: boolean): number {
  const code = exitCodeOf(e);
  const message = oneLine(e instanceof Error ? e.message : String(e));
  if (code === EXIT.internal) {
    io.stderr.write(`mc: internal error: ${message}\n`);
    if (debug && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    io.stderr.write(`mc: ${BUG_HINT}\n`);
  } else {
    if (e instanceof IncompleteError) for (const d of e.details) io.stderr.write(`mc:   ${oneLine(d)}\n`);
    io.stderr.write(`mc: ${message}\n`);
    if (debug && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
  }
  return code;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Entry point used by bin/mc. The only place that sets the process exit status. */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  installSignalHandlers();
  const code = await runCli(argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
  process.exitCode = code;
}

const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Outputs are written under temp names and renamed into place only when complete
 * (src/util/atomic.ts), so an interrupted run has nothing to undo but its temp files.
 * Node runs these handlers when the event loop turns: a synchronous stretch (a pass,
 * a write) finishes first, and the writers yield before renaming (pipeline/output.ts).
 */
function installSignalHandlers(): void {
  process.on('exit', () => removeTempFiles());
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.once(sig, () => {
      const n = removeTempFiles();
      const done = committedFiles();
      const what = done.length ? `after writing ${done.join(', ')}` : 'no output written';
      process.stderr.write(`mc: interrupted by ${sig}; ${what}${n ? ` (${n} temporary file(s) removed)` : ''}\n`);
      process.exit(SIGNAL_EXIT[sig]);
    });
  }
}
