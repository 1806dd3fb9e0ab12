import chalk from 'chalk';
import { defineCommand, RegisteredCommand } from '../../src/cli/command';
import { COMMANDS } from '../../src/cli/commands';
import type { CliContext } from '../../src/cli/context';
import { BUG_HINT, runCli } from '../../src/cli/main';
import { GateError, InputError, UsageError } from '../../src/errors';

interface Captured { code: number; stdout: string; stderr: string }

async function run(args: string[], commands: readonly RegisteredCommand[], env: Record<string, string> = {}): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => { stdout += s; } },
    stderr: { write: (s: string) => { stderr += s; }, isTTY: false },
    env,
  }, commands);
  return { code, stdout, stderr };
}

/** A test command that runs `body`. */
function fake(body: (ctx: CliContext) => number | Promise<number>): RegisteredCommand {
  return defineCommand<{ arg: string }>({
    name: 'fake',
    configure: (cmd) => cmd.argument('<arg>'),
    parse: ([arg]) => ({ arg }),
    run: (_o, ctx) => body(ctx),
  });
}

describe('runCli exit codes', () => {
  it('0 when the command succeeds', async () => {
    const r = await run(['fake', 'x'], [fake((ctx) => { ctx.io.stdout.write('done\n'); return 0; })]);
    expect(r).toEqual({ code: 0, stdout: 'done\n', stderr: '' });
  });

  it('1 when a gate fails (returned or thrown)', async () => {
    expect((await run(['fake', 'x'], [fake(() => 1)])).code).toBe(1);
    const thrown = await run(['fake', 'x'], [fake(() => { throw new GateError('accuracy drop 2.1% > budget 1%'); })]);
    expect(thrown).toEqual({ code: 1, stdout: '', stderr: 'mc: accuracy drop 2.1% > budget 1%\n' });
  });

  it('2 with one line for usage and input errors', async () => {
    const usage = await run(['fake'], [fake(() => 0)]);
    expect(usage).toEqual({ code: 2, stdout: '', stderr: "mc: missing required argument 'arg'\n" });
    const input = await run(['fake', 'x'], [fake(() => { throw new InputError('truncated protobuf', 'model.onnx'); })]);
    expect(input).toEqual({ code: 2, stdout: '', stderr: 'mc: model.onnx: truncated protobuf\n' });
    const thrownUsage = await run(['fake', 'x'], [fake(() => { throw new UsageError('bad\nflag'); })]);
    expect(thrownUsage.stderr).toBe('mc: bad flag\n');
  });

  it('3 with the bug hint for an unknown internal error, stack only under --debug', async () => {
    const boom = fake(async () => { throw new TypeError("Cannot read properties of undefined (reading 'shape')"); });
    const r = await run(['fake', 'x'], [boom]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`mc: internal error: Cannot read properties of undefined (reading 'shape')\nmc: ${BUG_HINT}\n`);
    expect(r.stderr).not.toMatch(/\n\s+at /);

    const dbg = await run(['--debug', 'fake', 'x'], [boom]);
    expect(dbg.code).toBe(3);
    expect(dbg.stderr).toMatch(/^mc: internal error: Cannot read/);
    expect(dbg.stderr).toMatch(/\n\s+at .*exit-codes\.test\.ts/);
    expect(dbg.stderr).toContain(BUG_HINT);
  });

  it('3 for a non-Error throw too', async () => {
    const r = await run(['fake', 'x'], [fake(() => { throw 'weird'; })]);
    expect(r.code).toBe(3);
    expect(r.stderr.split('\n')[0]).toBe('mc: internal error: weird');
  });

  it('real commands: a missing model is exit 2 naming the file', async () => {
    const r = await run(['inspect', 'does/not/exist.onnx'], COMMANDS);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'mc: does/not/exist.onnx: no such file or folder\n' });
  });
});

describe('colour', () => {
  const probe = (): { cmd: RegisteredCommand; level: () => number } => {
    let level = -1;
    return { cmd: fake((ctx) => { level = ctx.chalk.level; ctx.io.stdout.write(ctx.chalk.red('x')); return 0; }), level: () => level };
  };
  const saved = chalk.level;
  afterEach(() => { chalk.level = saved; });

  it('--no-color and NO_COLOR give plain output', async () => {
    chalk.level = 1;
    const a = probe();
    expect((await run(['--no-color', 'fake', 'x'], [a.cmd])).stdout).toBe('x');
    expect(a.level()).toBe(0);
    chalk.level = 1;
    const b = probe();
    expect((await run(['fake', 'x'], [b.cmd], { NO_COLOR: '1' })).stdout).toBe('x');
    expect(b.level()).toBe(0);
  });

  it('colours are kept otherwise', async () => {
    chalk.level = 1;
    const c = probe();
    expect((await run(['fake', 'x'], [c.cmd], {})).stdout).toBe('\u001b[31mx\u001b[39m');
    expect(c.level()).toBe(1);
  });
});
