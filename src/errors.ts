/**
 * Typed errors. The CLI's single exit point (src/cli/main.ts) maps them to exit codes:
 *   0 ok, 1 a quality gate failed, 2 bad usage or bad input, 3 internal error.
 * Messages are one line and name the file or tensor at fault.
 */
export class McError extends Error {
  readonly exitCode: number = 3;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong flags or arguments. */
export class UsageError extends McError {
  override readonly exitCode = 2;
}

/** The input (model file, shard, data file) is missing, corrupt or unacceptable. */
export class InputError extends McError {
  override readonly exitCode = 2;
  constructor(message: string, readonly file?: string) {
    super(oneLine(file ? `${file}: ${message}` : message));
  }
}

/**
 * The message with control characters written as \xNN: names and text quoted
 * from a corrupt file (a tensor name with a newline, a parser's excerpt of
 * binary data) must not break the one-line contract.
 */
function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A path inside a model (external data location, weight shard) escapes the model folder. */
export class PathEscapeError extends InputError {}

/** A model the tools cannot handle (an op without support, an unsupported dtype). */
export class UnsupportedError extends McError {
  override readonly exitCode = 2;
}

/**
 * A command did less than it was asked (nothing quantized, a share of the weights
 * or channels it could not take). `details` names each weight or group and why;
 * the CLI prints them under the one-line message. `--allow-partial` turns it into a warning.
 */
export class IncompleteError extends UnsupportedError {
  constructor(message: string, readonly details: readonly string[] = []) {
    super(message);
  }
}

/** One or more quality budgets were broken. */
export class GateError extends McError {
  override readonly exitCode = 1;
}

export const EXIT = { ok: 0, gate: 1, input: 2, internal: 3 } as const;

export function exitCodeOf(err: unknown): number {
  return err instanceof McError ? err.exitCode : EXIT.internal;
}
