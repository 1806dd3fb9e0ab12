import { COMMANDS } from '../../src/cli/commands';
import { parseArgv, ParseOutcome } from '../../src/cli/program';
import { UsageError } from '../../src/errors';
import { VERSION } from '../../src/version';

function parse(args: string[]): { outcome: ParseOutcome; out: string; err: string } {
  let out = '';
  let err = '';
  const outcome = parseArgv(args, COMMANDS, { out: (s) => { out += s; }, err: (s) => { err += s; } });
  return { outcome, out, err };
}

function parsed(args: string[]): { name: string; options: unknown; debug: boolean; color: boolean } {
  const { outcome } = parse(args);
  if (outcome.kind !== 'run') throw new Error(`expected a command, got exit ${outcome.code}`);
  return { name: outcome.command.name, options: outcome.command.options, debug: outcome.global.debug, color: outcome.global.color };
}

const convertDefaults = { externalData: false, force: false, json: false, dtype: 'fp32', keepIoTypes: false, blockOps: [], blockNodes: [], outputCheck: {} };

describe('argv → typed options', () => {
  const ok: [string, string[], { name: string; options: unknown; debug?: boolean; color?: boolean }][] = [
    ['inspect', ['inspect', 'm.onnx'], { name: 'inspect', options: { model: 'm.onnx', json: false } }],
    ['inspect --json', ['inspect', 'm.onnx', '--json'], { name: 'inspect', options: { model: 'm.onnx', json: true } }],
    ['inspect folder', ['inspect', 'web_model/'], { name: 'inspect', options: { model: 'web_model/', json: false } }],
    ['global --debug before', ['--debug', 'inspect', 'm.onnx'], { name: 'inspect', options: { model: 'm.onnx', json: false }, debug: true }],
    ['global --debug after', ['inspect', 'm.onnx', '--debug'], { name: 'inspect', options: { model: 'm.onnx', json: false }, debug: true }],
    ['--no-color', ['--no-color', 'inspect', 'm.onnx'], { name: 'inspect', options: { model: 'm.onnx', json: false }, color: false }],
    ['convert -o', ['convert', 'a.onnx', '-o', 'b.onnx'], { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults } }],
    ['convert --output=', ['convert', 'a.onnx', '--output=b.onnx'], { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults } }],
    ['convert -o first', ['convert', '-o', 'b.onnx', 'a.onnx'], { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults } }],
    ['--external-data bare', ['convert', 'a.onnx', '-o', 'b.onnx', '--external-data'],
      { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults, externalData: { threshold: 1024 } } }],
    ['--external-data bare before -o', ['convert', 'a.onnx', '--external-data', '-o', 'b.onnx'],
      { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults, externalData: { threshold: 1024 } } }],
    ['--external-data 4096 --force --json', ['convert', 'a.onnx', '-o', 'b.onnx', '--external-data', '4096', '--force', '--json'],
      { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults, externalData: { threshold: 4096 }, force: true, json: true } }],
    ['convert --dtype fp16 --keep-io-types --fp16-block-ops', ['convert', 'a.onnx', '-o', 'b.onnx', '--dtype', 'fp16', '--keep-io-types', '--fp16-block-ops', 'Resize,Softmax'],
      { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults, dtype: 'fp16', keepIoTypes: true, blockOps: ['Resize', 'Softmax'] } }],
    ['convert --dtype q4f16 --fp16-block-nodes', ['convert', 'a.onnx', '-o', 'b.onnx', '--dtype=q4f16', '--fp16-block-nodes', 'head/Softmax'],
      { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults, dtype: 'q4f16', blockNodes: ['head/Softmax'] } }],
    ['--external-data=0', ['convert', 'a.onnx', '--external-data=0', '-o', 'b.onnx'],
      { name: 'convert', options: { input: 'a.onnx', output: 'b.onnx', ...convertDefaults, externalData: { threshold: 0 } } }],
  ];
  it.each(ok)('%s', (_label, args, want) => {
    const got = parsed(args);
    expect(got.name).toBe(want.name);
    expect(got.options).toEqual(want.options);
    expect(got.debug).toBe(want.debug ?? false);
    expect(got.color).toBe(want.color ?? true);
  });

  const bad: [string, string[], RegExp][] = [
    ['no command', [], /^missing command/],
    ['unknown command', ['frobnicate'], /^unknown command 'frobnicate'/],
    ['unknown global option', ['--bogus', 'inspect', 'm.onnx'], /^unknown option '--bogus'/],
    ['unknown command option', ['inspect', 'm.onnx', '--jsn'], /^unknown option '--jsn' \(Did you mean --json\?\)$/],
    ['inspect without model', ['inspect'], /^missing required argument 'model'/],
    ['inspect with two models', ['inspect', 'a.onnx', 'b.onnx'], /^too many arguments for 'inspect'/],
    ['convert without -o', ['convert', 'a.onnx'], /^required option '-o, --output <path>' not specified/],
    ['convert -o without value', ['convert', 'a.onnx', '-o'], /^option '-o, --output <path>' argument missing/],
    ['convert without input', ['convert', '-o', 'b.onnx'], /^missing required argument 'in'/],
    ['non-integer threshold', ['convert', 'a.onnx', '-o', 'b.onnx', '--external-data', '1.5'], /^--external-data threshold must be a whole number of bytes, got '1.5'/],
    ['word threshold', ['convert', 'a.onnx', '-o', 'b.onnx', '--external-data=big'], /got 'big'/],
    ['unknown --dtype', ['convert', 'a.onnx', '-o', 'b.onnx', '--dtype', 'int8'], /^--dtype must be fp32, fp16 or q4f16, got 'int8'/],
    ['--keep-io-types without fp16', ['convert', 'a.onnx', '-o', 'b.onnx', '--keep-io-types'], /need --dtype fp16 or q4f16/],
  ];
  it.each(bad)('%s → UsageError', (_label, args, message) => {
    let caught: unknown;
    try {
      parse(args);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toMatch(/\n/);
  });

  it('--version prints the package version on stdout and exits 0', () => {
    const { outcome, out, err } = parse(['--version']);
    expect(outcome).toEqual({ kind: 'exit', code: 0 });
    expect(out).toBe(`${VERSION}\n`);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(err).toBe('');
  });

  it('--help lists every command on stdout and exits 0', () => {
    const { outcome, out } = parse(['--help']);
    expect(outcome).toEqual({ kind: 'exit', code: 0 });
    for (const c of COMMANDS) expect(out).toContain(`${c.name} [options]`);
    const sub = parse(['convert', '--help']);
    expect(sub.outcome).toEqual({ kind: 'exit', code: 0 });
    expect(sub.out).toContain('--external-data [threshold]');
  });
});
