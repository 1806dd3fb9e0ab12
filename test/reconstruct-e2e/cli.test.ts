/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * mc quantize --method gptq / --clip-search / --bias-correction through the
 * built binary: --recipe-out then mc apply gives the same bytes (the recipe
 * keys carry every setting and the data), two runs give the same bytes, the
 * output runs in onnxruntime, and the clear errors (no data, tfjs, GPTQ
 * settings without GPTQ, static with GPTQ) exit 2 with one line.
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
  ['tfjs', ['quantize', path.join(FIX, 'cnn-graph'), '--bits', '4', '--method', 'gptq', '--calib', 'calib-x.npy'], /ONNX models only/],
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
