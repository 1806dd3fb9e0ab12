/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Perplexity and MSE through the built binary, against values computed here
 * from stock onnxruntime outputs.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { saveOnnx } from '../../src/formats/onnx';
import { floats } from '../helpers/onnx-build';
import { runMc, tempDir } from '../helpers/cli-run';
import { buildCnn, buildLm, CLASSES, HW, LM, writeNpy } from './models';

let dir: string;
beforeAll(() => {
  dir = tempDir('eval-metrics');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('perplexity of token logits [N,T,V] equals exp(mean NLL) from onnxruntime outputs; ignore index −100 skipped', async () => {
  const { n, t, vocab } = LM;
  saveOnnx(buildLm(), path.join(dir, 'lm.onnx'));
  const ids = BigInt64Array.from(floats(n * t, 41), (v) => BigInt(Math.floor((v + 1) * 6) % vocab));
  const labels = BigInt64Array.from(floats(n * t, 43), (v, i) => (i % 7 === 3 ? -100n : BigInt(Math.floor((v + 1) * 6) % vocab)));
  writeNpy(path.join(dir, 'ids.npy'), '<i8', [n, t], ids);
  writeNpy(path.join(dir, 'next.npy'), '<i8', [n, t], labels);

  const session = await ort.InferenceSession.create(path.join(dir, 'lm.onnx'));
  const logits = (await session.run({ ids: new ort.Tensor('int64', ids, [n, t]) })).logits.data as Float32Array;
  await session.release();
  let nll = 0;
  let tokens = 0;
  for (let r = 0; r < n * t; r++) {
    if (labels[r] < 0n) continue;
    const row = Array.from(logits.subarray(r * vocab, (r + 1) * vocab));
    const m = Math.max(...row);
    nll += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[Number(labels[r])];
    tokens++;
  }
  const expected = Math.exp(nll / tokens);
  expect(expected).toBeGreaterThan(1.5); // a real, non-trivial number

  const r = runMc(['eval', 'lm.onnx', '--data', 'ids.npy', '--labels', 'next.npy', '--batch-size', '7', '--runs', '2', '--warmup', '0', '--json', '-'], { cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const acc = JSON.parse(r.stdout).candidate.accuracy;
  expect(acc.metric).toBe('perplexity');
  expect(acc.perplexity).toBeCloseTo(expected, 6);
  expect(acc.top1).toBeNull();
});

test('mse against float targets equals the mean squared difference of onnxruntime outputs', async () => {
  const n = 50;
  saveOnnx(buildCnn(), path.join(dir, 'cnn.onnx'));
  const x = floats(n * HW * HW, 51);
  const target = floats(n * CLASSES, 53);
  writeNpy(path.join(dir, 'x.npy'), '<f4', [n, 1, HW, HW], x);
  writeNpy(path.join(dir, 'target.npy'), '<f4', [n, CLASSES], target);
  const session = await ort.InferenceSession.create(path.join(dir, 'cnn.onnx'));
  const out = (await session.run({ x: new ort.Tensor('float32', x, [n, 1, HW, HW]) })).logits.data as Float32Array;
  await session.release();
  let se = 0;
  for (let i = 0; i < out.length; i++) se += (out[i] - target[i]) ** 2;

  const r = runMc(['eval', 'cnn.onnx', '--data', 'x.npy', '--labels', 'target.npy', '--runs', '0', '--json', '-'], { cwd: dir });
  expect(r.code).toBe(0);
  const acc = JSON.parse(r.stdout).candidate.accuracy;
  expect(acc.metric).toBe('mse');
  expect(acc.mse).toBeCloseTo(se / out.length, 9);
});
