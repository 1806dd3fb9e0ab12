import { Command, CommanderError } from 'commander';
import { UsageError } from '../errors';
import { VERSION } from '../version';
import type { ParsedCommand, RegisteredCommand } from './command';

export interface GlobalOptions {
  debug: boolean;
  /** false under --no-color. (NO_COLOR and non-TTY output are applied by main.) */
  color: boolean;
}

/** What argv asks for: run a command, or stop with `code` after commander printed help or the version. */
export type ParseOutcome =
  | { kind: 'run'; command: ParsedCommand; global: GlobalOptions }
  | { kind: 'exit'; code: number };

export interface ParseIO {
  /** Help and --version text (stdout). */
  out(s: string): void;
  /** Help shown because of a usage problem (stderr). */
  err(s: string): void;
}

/**
 * Parses user arguments (argv without node and the script) into a typed
 * command. Runs nothing. Commander's own errors become UsageError with its
 * message, so the single exit point prints them as `mc: <message>` and exits 2.
 */
export function parseArgv(args: readonly string[], commands: readonly RegisteredCommand[], io: ParseIO): ParseOutcome {
  const program = new Command('mc');
  program
    .description('Compress trained neural networks (ONNX and TensorFlow.js).')
    .version(VERSION, '-V, --version', 'print the mc version')
    .option('--debug', 'print stack traces for internal errors')
    .option('--no-color', 'plain output without colours (NO_COLOR is honoured too)')
    .helpOption('-h, --help', 'show help')
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      // Errors are printed once, by the exit point, as `mc: <message>`.
      outputError: () => {},
    })
    .exitOverride();

  let parsed: ParsedCommand | undefined;
  for (const c of commands) {
    const cmd = program.command(c.name);
    c.configure(cmd);
    cmd.action((...actionArgs: unknown[]) => {
      const self = actionArgs[actionArgs.length - 1] as Command;
      parsed = c.bind(self.processedArgs as string[], self.opts());
    });
  }

  try {
    program.parse([...args], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // --help and --version exit 0; help shown for a missing command is a usage error.
    if (e.exitCode === 0) return { kind: 'exit', code: 0 };
    if (e.code === 'commander.help' || e.code === 'commander.helpDisplayed') throw new UsageError("missing command (see 'mc --help')");
    throw new UsageError(e.message.replace(/^error:\s*/, '').replace(/\s*\n\s*/g, ' ').trim());
  }
  if (!parsed) throw new UsageError("missing command (see 'mc --help')");
  const g = program.opts<{ debug?: boolean; color?: boolean }>();
  return { kind: 'run', command: parsed, global: { debug: g.debug === true, color: g.color !== false } };
}
