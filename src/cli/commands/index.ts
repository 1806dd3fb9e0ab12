import type { RegisteredCommand } from '../command';
import { applyCommand } from './apply';
import { convertCommand } from './convert';
import { evalCommand } from './eval';
import { inspectCommand } from './inspect';
import { quantizeCommand } from './quantize';
import { pruneCommand } from './prune';
import { tuneCommand } from './tune';
import { finetuneCommand } from './finetune';

/** Every `mc` subcommand, in help order. A new command is one file plus one line here. */
export const COMMANDS: readonly RegisteredCommand[] = [inspectCommand, convertCommand, evalCommand, quantizeCommand, pruneCommand, applyCommand, tuneCommand, finetuneCommand];
