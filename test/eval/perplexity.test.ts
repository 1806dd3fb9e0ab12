/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Perplexity of the char-level transformer fixture (fixtures/char-lm.onnx, its
 * held-out windows lm-eval-x/y.npy) through the built binary, against:
 *  - a float64 computation here from logits taken with onnxruntime-node
 *    directly, NLL written as log Σⱼ exp(zⱼ − z_label) (another form than
 *    mc's m + log Σ exp(z − m) − z_label);
 *  - numpy (Debian's /usr/bin/python3, test oracle only) on the same logits.
 * And the --max-ppl-ratio gate on a candidate whose LM head is scaled (a
 * temperature change), with the ratio computed here from onnxruntime.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { loadOnnx, saveOnnx } from '../../src/formats/onnx';
import { runMc, ROOT, tempDir } from '../helpers/cli-run';
import { writeNpy } from './models';
import { ORACLE_PYTHON, requirePython } from '../helpers/require-dep';

const FIXTURES = path.join(ROOT, 'fixtures');
const MODEL = path.join(FIXTURES, 'char-lm.onnx');
const X = path.join(FIXTURES, 'lm-eval-x.npy');
const Y = path.join(FIXTURES, 'lm-eval-y.npy');
const PYTHON = ORACLE_PYTHON;

/** int64 [N, T] from an .npy the fixture script wrote (header v1.0, '<i8', C order). */
function readInt64Npy(file: string): { data: BigInt64Array; shape: number[] } {
  const b = fs.readFileSync(file);
  const headerLen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + headerLen).toString('latin1');
  expect(header).toContain("'descr': '<i8'");
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(',').filter((s) => s.trim()).map(Number);
  const start = 10 + headerLen;
  const copy = new Uint8Array(b.subarray(start));
  return { data: new BigInt64Array(copy.buffer, 0, copy.byteLength / 8), shape };
}

async function logitsOf(model: string, ids: BigInt64Array, shape: number[]): Promise<{ data: Float32Array; vocab: number }> {
  const s = await ort.InferenceSession.create(model);
  const out = (await s.run({ [s.inputNames[0]]: new ort.Tensor('int64', ids, shape) }))[s.outputNames[0]];
  await s.release();
  return { data: out.data as Float32Array, vocab: out.dims[2] };
}

/** exp(mean over tokens of log Σⱼ exp(zⱼ − z_label)), float64. */
function perplexity(logits: Float32Array, labels: BigInt64Array, vocab: number): number {
  let nll = 0;
  for (let r = 0; r < labels.length; r++) {
    const zy = logits[r * vocab + Number(labels[r])];
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(logits[r * vocab + j] - zy);
    nll += Math.log(s);
  }
  return Math.exp(nll / labels.length);
}

let dir: string;
let ids: { data: BigInt64Array; shape: number[] };
let labels: BigInt64Array;
beforeAll(() => {
  dir = tempDir('eval-perplexity');
  ids = readInt64Npy(X);
  labels = readInt64Npy(Y).data;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The first test's logits and mc's perplexity, for the numpy cross-check. */
let measured: { perplexity: number; data: Float32Array; vocab: number } | undefined;

test('mc eval perplexity of the char-LM fixture equals float64 NLL over onnxruntime logits to 1e-9', async () => {
  const { data, vocab } = await logitsOf(MODEL, ids.data, ids.shape);
  const expected = perplexity(data, labels, vocab);
  expect(expected).toBeGreaterThan(1.5);
  expect(expected).toBeLessThan(vocab);

  // Batches of 7: the metric streams over batches, the last one partial.
  const r = runMc(['eval', MODEL, '--data', X, '--labels', Y, '--batch-size', '7', '--runs', '0', '--json', '-']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const acc = JSON.parse(r.stdout).candidate.accuracy;
  expect(acc.metric).toBe('perplexity'); // chosen from logits [N,T,V] and integer labels [N,T]
  expect(acc.samples).toBe(ids.shape[0]);
  expect(Math.abs(acc.perplexity - expected) / expected).toBeLessThan(1e-9);
  measured = { perplexity: acc.perplexity, data, vocab };
});

requirePython('numpy', ['numpy'], 'python3-numpy').test('and equals numpy\'s float64 perplexity over the same logits to 1e-9', () => {
  if (!measured) throw new Error('the test above failed before measuring: nothing to compare with numpy');
  const { perplexity: ppl, data, vocab } = measured;
  const n = labels.length;
  writeNpy(path.join(dir, 'logits.npy'), '<f4', [n, vocab], data);
  writeNpy(path.join(dir, 'labels.npy'), '<i8', [n], labels);
  const py = spawnSync(PYTHON, ['-c', [
    'import sys, numpy as np',
    `z = np.load(sys.argv[1]).astype(np.float64); y = np.load(sys.argv[2])`,
    'm = z.max(axis=1, keepdims=True)',
    'lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]',
    'print(repr(float(np.exp(np.mean(lse - z[np.arange(len(y)), y])))))',
  ].join('\n'), path.join(dir, 'logits.npy'), path.join(dir, 'labels.npy')], { encoding: 'utf8' });
  expect(py.stderr).toBe('');
  const numpyPpl = Number(py.stdout.trim());
  expect(Math.abs(ppl - numpyPpl) / numpyPpl).toBeLessThan(1e-9);
});

test('--max-ppl-ratio fails the gate (exit 1) just under the measured ratio and passes just over it', async () => {
  // A candidate with its LM head scaled by 2: the logits of the held-out text get twice as confident, perplexity rises.
  const m = loadOnnx(MODEL);
  for (const name of ['lm_head.weight', 'lm_head.bias']) {
    const v = m.graph.initializers.find((i) => i.name === name)!;
    const w = v.const!.writableFloat32();
    for (let i = 0; i < w.length; i++) w[i] *= 2;
  }
  const candidate = path.join(dir, 'hot.onnx');
  saveOnnx(m, candidate);

  const base = await logitsOf(MODEL, ids.data, ids.shape);
  const cand = await logitsOf(candidate, ids.data, ids.shape);
  const ratio = perplexity(cand.data, labels, cand.vocab) / perplexity(base.data, labels, base.vocab);
  expect(ratio).toBeGreaterThan(1.01);

  const gate = (limit: number) => runMc(['eval', candidate, '--baseline', MODEL, '--data', X, '--labels', Y, '--runs', '0', '--max-ppl-ratio', String(limit), '--json', '-']);
  const fail = gate(ratio * (1 - 1e-6));
  expect(fail.code).toBe(1);
  const failed = JSON.parse(fail.stdout);
  expect(failed.passed).toBe(false);
  expect(failed.budgets).toHaveLength(1);
  expect(failed.budgets[0]).toMatchObject({ name: 'max-ppl-ratio', passed: false, unit: 'ratio' });
  expect(Math.abs(failed.budgets[0].value - ratio) / ratio).toBeLessThan(1e-9);
  expect(Math.abs(failed.delta.perplexityRatio - ratio) / ratio).toBeLessThan(1e-9);

  const pass = gate(ratio * (1 + 1e-6));
  expect(pass.code).toBe(0);
  expect(JSON.parse(pass.stdout).budgets[0].passed).toBe(true);
});

test('--max-ppl-ratio without a baseline is a usage error (exit 2); with class labels it says perplexity is needed', () => {
  const r = runMc(['eval', MODEL, '--data', X, '--labels', Y, '--runs', '0', '--max-ppl-ratio', '1.02']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--max-ppl-ratio needs --baseline/);
  const cnn = path.join(FIXTURES, 'cnn.onnx');
  const c = runMc(['eval', cnn, '--baseline', cnn, '--data', path.join(FIXTURES, 'eval-x.npy'), '--labels', path.join(FIXTURES, 'eval-y.npy'),
    '--samples', '20', '--runs', '0', '--max-ppl-ratio', '1.02']);
  expect(c.code).toBe(2);
  expect(c.stderr).toMatch(/--max-ppl-ratio needs the perplexity metric; the labels gave top1/);
});
