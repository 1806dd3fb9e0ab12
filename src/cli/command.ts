import type { Command } from 'commander';
import type { CliContext } from './context';

/**
 * One `mc` subcommand, typed by its options. Parsing (argv → typed options)
 * and running are separate, so argv handling is testable without running anything.
 */
export interface CommandSpec<Options> {
  readonly name: string;
  /** Adds description, arguments and options to the commander command. */
  configure(cmd: Command): void;
  /**
   * Turns commander's parsed positional arguments and option values into the
   * command's typed options. Throws UsageError for values commander cannot check.
   */
  parse(args: readonly string[], flags: Readonly<Record<string, unknown>>): Options;
  /** Does the work; returns the exit code (0, or 1 when a gate fails). Throws typed errors otherwise. */
  run(options: Options, ctx: CliContext): Promise<number> | number;
}

/** A command bound to its parsed options: what the CLI runs after parsing argv. */
export interface ParsedCommand {
  readonly name: string;
  readonly options: unknown;
  run(ctx: CliContext): Promise<number> | number;
}

/** A command in the registry, its option type hidden behind bind(). */
export interface RegisteredCommand {
  readonly name: string;
  configure(cmd: Command): void;
  bind(args: readonly string[], flags: Readonly<Record<string, unknown>>): ParsedCommand;
}

export function defineCommand<Options>(spec: CommandSpec<Options>): RegisteredCommand {
  return {
    name: spec.name,
    configure: (cmd) => spec.configure(cmd),
    bind: (args, flags) => {
      const options = spec.parse(args, flags);
      return { name: spec.name, options, run: (ctx) => spec.run(options, ctx) };
    },
  };
}
