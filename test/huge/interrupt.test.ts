/**
 * Ctrl-C and kill during `mc quantize` (issue 15 §2, Disk): the built mc runs on a
 * 256 MiB external-data model (16 × MatMul 2048×2048) and gets SIGINT or SIGTERM
 * part way through. It must exit with 130 / 143 and one line on stderr, leave no
 * file under the output's names (model and data file) and no temp file in the
 * output folder. The signal is sent when the output folder shows the phase: the
 * spill file (the quantize pass is running: built tensors parked) or a staged
 * output temp file (the write is running); the folder is polled every few ms. A run
 * that ends before its phase was seen fails the test, as then nothing was tested.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { assertBuilt, BIN } from '../helpers/cli-run';
import { writeMatmulChain } from './model';

jest.setTimeout(240_000);

let dir: string;
let input: string;
let fullRunMs: number;

function runQuantize(out: string, signal?: { name: NodeJS.Signals; when: RegExp }): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number; sentAt?: number; seen?: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, 'quantize', input, '-o', out, '--bits', '8', '--no-output-check', '--force'], { env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    let sentAt: number | undefined;
    let seen: string | undefined;
    const timer = signal && setInterval(() => {
      if (sentAt !== undefined) return;
      let names: string[] = [];
      try { names = fs.readdirSync(path.dirname(out)); } catch { /* not there yet */ }
      seen = names.find((f) => signal.when.test(f));
      if (seen) {
        sentAt = Date.now() - t0;
        child.kill(signal.name);
      }
    }, 3);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal: sig, stderr, ms: Date.now() - t0, sentAt, seen });
    });
  });
}

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-interrupt-'));
  input = path.join(dir, 'in', 'chain.onnx');
  fs.mkdirSync(path.dirname(input));
  writeMatmulChain(input, 16, 2048);
  const out = path.join(dir, 'full', 'chain.int8.onnx');
  fs.mkdirSync(path.dirname(out));
  const r = await runQuantize(out);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(['chain.int8.onnx', 'chain.int8.onnx.data']);
  fullRunMs = r.ms;
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The spill file (weight-stream.ts: `.mc-weights.<pid>...spill`) and the staged outputs (`.chain.int8.onnx[.data].<pid>...tmp`). */
const DURING_PASS = /^\.mc-weights\..*\.spill$/;
const DURING_WRITE = /^\.chain\.int8\.onnx.*\.tmp$/;

describe.each([
  ['SIGINT', 'the pass', DURING_PASS, 130],
  ['SIGTERM', 'the pass', DURING_PASS, 143],
  ['SIGINT', 'the write', DURING_WRITE, 130],
  ['SIGTERM', 'the write', DURING_WRITE, 143],
] as [NodeJS.Signals, string, RegExp, number][])('%s during %s', (name, _phase, when, code) => {
  test(`exits ${code}, no output under the final name, no temp file left`, async () => {
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const out = path.join(outDir, 'chain.int8.onnx');
    const r = await runQuantize(out, { name, when });
    // The line says how many temp files (the spill, staged outputs) existed and were removed.
    console.log(`${name} at ${r.sentAt} ms (${r.seen}) of a ${fullRunMs} ms run: ${r.stderr.trim()}`);
    if (r.sentAt === undefined) throw new Error(`the run ended (${r.ms} ms, exit ${r.code}) without showing ${when}: nothing was tested`);
    expect(r.code).toBe(code);
    expect(r.stderr.trim()).toMatch(new RegExp(`^mc: interrupted by ${name}; no output written( \\(\\d+ temporary file\\(s\\) removed\\))?$`));
    expect(fs.readdirSync(outDir)).toEqual([]);
    // The input is untouched.
    expect(fs.readdirSync(path.dirname(input)).sort()).toEqual(['chain.onnx', 'chain.onnx.data']);
  });
});
