import { Command } from 'commander';
import { COMMANDS } from '../../src/cli/commands';
import { addBudgetOptions, budgetsFromFlags } from '../../src/cli/commands/eval';
import { parseArgv } from '../../src/cli/program';
import { UsageError } from '../../src/errors';

function parseEval(args: string[]): Record<string, unknown> {
  const outcome = parseArgv(['eval', ...args], COMMANDS, { out: () => {}, err: () => {} });
  if (outcome.kind !== 'run') throw new Error('expected a command');
  return outcome.command.options as Record<string, unknown>;
}

describe('mc eval argv → typed options', () => {
  test.each([
    [['m.onnx'], { candidate: 'm.onnx', budgets: {}, perLayer: false, runs: undefined, json: undefined }],
    [['m.onnx', '--baseline', 'b.onnx', '--data', 'x.npy', '--labels', 'y.npy'], { baseline: 'b.onnx', data: 'x.npy', labels: 'y.npy' }],
    [['m.onnx', '--runs', '0', '--warmup', '2', '--threads', '4', '--batch-size', '8', '--samples', '100'],
      { runs: 0, warmup: 2, threads: 4, batchSize: 8, samples: 100 }],
    [['m.onnx', '--metric', 'perplexity', '--per-layer'], { metric: 'perplexity', perLayer: true }],
    [['m.onnx', '--json', '-', '--markdown', 's.md', '--junit', 'j.xml'], { json: '-', markdown: 's.md', junit: 'j.xml' }],
    [['m.onnx', '--max-accuracy-drop', '0.5', '--min-agreement=0.99', '--min-sqnr', '-3', '--max-size-ratio', '0.3', '--max-latency-ratio', '1.1'],
      { budgets: { maxAccuracyDrop: 0.5, minAgreement: 0.99, minSqnr: -3, maxSizeRatio: 0.3, maxLatencyRatio: 1.1 } }],
  ])('%j', (args, expected) => {
    expect(parseEval(args)).toMatchObject(expected);
  });

  test.each([
    [['m.onnx', '--runs', '-1'], /--runs needs an integer ≥ 0, got '-1'/],
    [['m.onnx', '--batch-size', '0'], /--batch-size needs an integer ≥ 1/],
    [['m.onnx', '--threads', '1.5'], /--threads needs an integer ≥ 1, got '1.5'/],
    [['m.onnx', '--metric', 'f1'], /--metric must be one of top1, top5, perplexity, mse, got 'f1'/],
    [['m.onnx', '--min-agreement', '1.2'], /--min-agreement must be within 0\.\.1, got 1\.2/],
    [['m.onnx', '--max-size-ratio', 'x'], /--max-size-ratio needs a number, got 'x'/],
    [[], /missing required argument 'candidate'/],
  ])('%j is a usage error', (args, message) => {
    expect(() => parseEval(args)).toThrow(UsageError);
    expect(() => parseEval(args)).toThrow(message);
  });
});

test('addBudgetOptions gives another command the same flags and values', () => {
  const cmd = addBudgetOptions(new Command('quantize').exitOverride());
  cmd.parse(['--max-size-ratio', '0.25', '--min-sqnr', '30'], { from: 'user' });
  expect(budgetsFromFlags(cmd.opts())).toEqual({ maxSizeRatio: 0.25, minSqnr: 30 });
});
