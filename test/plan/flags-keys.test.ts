/**
 * Every flag of `mc quantize` and `mc prune` is a recipe key of the same name (and
 * every recipe key a flag): the schema in docs/ and the commands cannot drift apart.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { COMMANDS } from '../../src/cli/commands';
import { BUDGET_SPECS } from '../../src/eval/budgets';
import { ROOT } from '../helpers/cli-run';

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'recipe.schema.json'), 'utf8'));

/** Long flag names without `--` (a `--no-x` switch is the key `x`). */
function flagsOf(name: string): string[] {
  const cmd = new Command(name);
  COMMANDS.find((c) => c.name === name)!.configure(cmd);
  return [...new Set(cmd.options.map((o) => o.long!.replace(/^--(no-)?/, '')))];
}

/** Flags that are about this run, not the model it makes: where to write, how to print, the eval gate (eval: in a recipe). */
const RUN_ONLY = ['output', 'force', 'json', 'recipe-out', 'eval-data', 'labels', 'eval-labels', ...BUDGET_SPECS.map((b) => b.flag)];
const STEP_LEVEL = ['exclude'];

test.each([['quantize', 'quantize'], ['prune', 'prune']])('mc %s: flags ↔ the schema\'s %s keys', (command, def) => {
  const keys = Object.keys(schema.definitions[def].properties);
  const flags = flagsOf(command).filter((f) => !RUN_ONLY.includes(f) && !STEP_LEVEL.includes(f));
  expect(flags.filter((f) => !keys.includes(f))).toEqual([]);
  // The prune schema's labels is the saliency labels (--labels of mc prune), which RUN_ONLY lists for quantize's eval.
  // The quantize schema's finetune (QAT) is mc finetune --qat's training, not an mc quantize flag (recipe-finetune.test.ts maps it).
  expect(keys.filter((k) => !flags.includes(k) && !(command === 'prune' && k === 'labels') && !(command === 'quantize' && k === 'finetune'))).toEqual([]);
  expect(Object.keys(schema.definitions.step.properties)).toEqual(expect.arrayContaining(STEP_LEVEL));
  expect(Object.keys(schema.definitions.eval.properties.budgets.properties).sort()).toEqual(BUDGET_SPECS.map((b) => b.flag).sort());
});
