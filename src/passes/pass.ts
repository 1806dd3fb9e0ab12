/**
 * Pass infrastructure. A pass transforms a Model in place and says what it
 * changed; `runPass` wraps it so that any error names the pass (the pattern of
 * onnx/ir-py's PassBase). Passes never touch disk or a runtime: the CLI and the
 * library entry point load, save and verify around them.
 */
import type { Model } from '../ir';
import { McError } from '../errors';

/** What a pass reports back. `changes` is the pass's own typed summary. */
export interface PassResult<C> {
  modified: boolean;
  changes: C;
}

/** Context shared by passes of one run. */
export interface PassContext {
  /** mc's version, stamped into model metadata by passes that record their settings. */
  toolVersion: string;
  /** Progress messages for long passes (the CLI shows them in a spinner); optional. */
  progress?: (message: string) => void;
}

export interface Pass<C> {
  readonly name: string;
  /** Mutates `model` in place. */
  run(model: Model, ctx: PassContext): PassResult<C>;
}

/** An error raised inside a pass, prefixed with the pass name. Typed errors keep their class (and exit code). */
export function runPass<C>(pass: Pass<C>, model: Model, ctx: PassContext): PassResult<C> {
  try {
    return pass.run(model, ctx);
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith(`${pass.name}: `)) {
      e.message = `${pass.name}: ${e.message}`;
      if (e instanceof McError === false && e.stack) e.stack = `${e.name}: ${e.message}\n${e.stack.split('\n').slice(1).join('\n')}`;
    }
    throw e;
  }
}
