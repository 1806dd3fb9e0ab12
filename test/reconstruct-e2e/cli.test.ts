/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * mc quantize --method gptq / --clip-search / --bias-correction through the
 * built binary: --recipe-out then mc apply gives the same bytes (the recipe
 * keys carry every setting and the data), two runs give the same bytes, the
 * output runs in onnxruntime, and the clear errors (no data, GPTQ settings
 * without GPTQ, static with GPTQ) exit 2 with one line. A tfjs graph model
 * takes GPTQ through the binary too (mc eval reads the written folder), and
 * static int8 takes --bias-correction (--recipe-out then mc apply: same bytes).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { assertBuilt, ROOT, runMc, tempDir } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');
jest.setTimeout(300_000);

let dir: string;
beforeAll(() => {
  assertBuilt();
  dir = tempDir('gptq-cli');
  for (const f of ['cnn.onnx', 'mlp.onnx', 'calib-x.npy']) fs.copyFileSync(path.join(FIX, f), path.join(dir, f));
});

test.each([
  ['gptq', ['--method', 'gptq', '--act-order', '--damp', '0.02', '--gptq-block', '64']],
  ['clip-search + bias-correction', ['--clip-search', '--bias-correction']],
])('%s: --recipe-out then mc apply gives the same bytes; a second run too', async (tag, flags) => {
  const args = ['quantize', 'cnn.onnx', '--bits', '4', '--calib', 'calib-x.npy', '--calib-samples', '128', ...flags];
  const r = runMc([...args, '-o', 'a.onnx', '--recipe-out', `${tag.replace(/\W+/g, '-')}.yaml`], { cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/reconstruction 5 layer\(s\) on 128 sample\(s\), 5 pass\(es\) over the data/);
  const recipe = fs.readFileSync(path.join(dir, `${tag.replace(/\W+/g, '-')}.yaml`), 'utf8');
  expect(recipe).toContain('calib: calib-x.npy');
  const b = runMc(['apply', `${tag.replace(/\W+/g, '-')}.yaml`, '-o', 'b.onnx'], { cwd: dir });
  expect(b.code).toBe(0);
  const c = runMc([...args, '-o', 'c.onnx'], { cwd: dir });
  expect(c.code).toBe(0);
  const bytes = (f: string): Buffer => fs.readFileSync(path.join(dir, f));
  expect(bytes('a.onnx').equals(bytes('b.onnx'))).toBe(true);
  expect(bytes('a.onnx').equals(bytes('c.onnx'))).toBe(true);
  const s = await ort.InferenceSession.create(path.join(dir, 'a.onnx'));
  const out = await s.run({ input: new ort.Tensor('float32', new Float32Array(784).fill(0.5), [1, 1, 28, 28]) });
  expect(Object.values(out)[0].dims).toEqual([1, 10]);
  await s.release();
});

test.each([
  ['no data', ['quantize', 'cnn.onnx', '--bits', '4', '--method', 'gptq'], /need calibration data: --calib FILE/],
  ['GPTQ settings without GPTQ', ['quantize', 'cnn.onnx', '--bits', '4', '--damp', '0.1', '--clip-search', '--calib', 'calib-x.npy'], /GPTQ settings: add --method gptq/],
  ['static with GPTQ', ['quantize', 'cnn.onnx', '--mode', 'static', '--method', 'gptq', '--calib', 'calib-x.npy'], /weight-only/],
  ['data that does not fit', ['quantize', 'cnn.onnx', '--bits', '4', '--method', 'gptq', '--calib', 'mlp.onnx'], /./],
])('%s: exit 2, one line', (tag, args, message) => {
  const r = runMc([...args, '-o', path.join(dir, 'never.onnx')], { cwd: dir });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(fs.existsSync(path.join(dir, 'never.onnx'))).toBe(false);
});

test('a recipe gives GPTQ to some layers and RTN to the rest, per step', async () => {
  fs.writeFileSync(path.join(dir, 'mixed.yaml'), [
    'model: cnn.onnx',
    'steps:',
    '  - quantize: { bits: 4, method: gptq, act-order: true, calib: calib-x.npy, calib-samples: 128 }',
    '    layers: ["conv*"]',
    '  - quantize: { bits: 4, backup-bits: none }',
    '',
  ].join('\n'));
  const r = runMc(['apply', 'mixed.yaml', '-o', 'mixed.onnx', '--json'], { cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const rec = JSON.parse(r.stdout).results.find((x: { kind: string }) => x.kind === 'quantize').reconstruct;
  const method = Object.fromEntries(rec.layers.map((l: { name: string; method: string }) => [l.name, l.method]));
  expect(method).toEqual({ 'conv1.weight': 'gptq', 'conv2.weight': 'gptq', 'conv3.weight': 'gptq', 'fc1.weight': 'rtn', 'logits.weight': 'rtn' });
  // the RTN weights are round 1's: the same initializers as a plain --bits 4 --backup-bits none run
  expect(runMc(['quantize', 'cnn.onnx', '--bits', '4', '--backup-bits', 'none', '-o', 'plain4.onnx'], { cwd: dir }).code).toBe(0);
  const { loadModel } = await import('../../src/formats');
  const init = (f: string, prefix: string): string => loadModel(path.join(dir, f)).graph.initializers
    .filter((v) => v.name.startsWith(prefix)).map((v) => Buffer.from(v.const!.bytes()).toString('hex')).join();
  expect(init('mixed.onnx', 'fc1.weight')).toBe(init('plain4.onnx', 'fc1.weight'));
  expect(init('mixed.onnx', 'conv2.weight')).not.toBe(init('plain4.onnx', 'conv2.weight'));
});

test('tfjs: mc quantize --method gptq on the graph-model CNN writes a model mc eval runs; the report names GPTQ per layer', () => {
  const r = runMc(['quantize', path.join(FIX, 'cnn-graph'), '--bits', '4', '--method', 'gptq', '--calib', 'calib-x.npy', '-o', 'tfjs-gptq', '--json'], { cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const rec = JSON.parse(r.stdout).reconstruct ?? JSON.parse(r.stdout).results?.find((x: { kind: string }) => x.kind === 'quantize').reconstruct;
  expect(rec.layers.map((l: { method: string }) => l.method)).toEqual(['gptq', 'gptq', 'gptq', 'gptq', 'gptq']);
  const e = runMc(['eval', 'tfjs-gptq', '--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')], { cwd: dir });
  expect(e.code).toBe(0);
  expect(e.stdout).toMatch(/top-1 accuracy\s+(8[5-9]|9\d)\.\d+%/);
});

test('static int8 with --bias-correction: --recipe-out then mc apply gives the same bytes; the report says what was shifted', () => {
  const args = ['quantize', 'cnn.onnx', '--mode', 'static', '--calib', 'calib-x.npy', '--bias-correction', '--small-layers', 'int8', '--space-to-depth', 'off'];
  const r = runMc([...args, '-o', 'bc.onnx', '--recipe-out', 'bc.yaml'], { cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/bias correction: 5 bias\(es\) shifted/);
  const recipe = fs.readFileSync(path.join(dir, 'bc.yaml'), 'utf8');
  expect(recipe).toMatch(/bias-correction: true/);
  const b = runMc(['apply', 'bc.yaml', '-o', 'bc2.onnx'], { cwd: dir });
  expect(b.stderr).toBe('');
  expect(b.code).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'bc.onnx')).equals(fs.readFileSync(path.join(dir, 'bc2.onnx')))).toBe(true);
});
