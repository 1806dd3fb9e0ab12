/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * `mc eval` on the trained Fashion-MNIST fixtures (fixtures/, 1000 test
 * images): accuracy must equal a count made here with stock onnxruntime /
 * stock tfjs, sample for sample.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { ROOT, runMc } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');

/** The data part of a v1 .npy (header length at byte 8), as the test's own independent reader. */
function npyData(file: string): Buffer {
  const b = fs.readFileSync(path.join(FIX, file));
  const headerLen = b.readUInt16LE(8);
  return b.subarray(10 + headerLen);
}

function floatsOf(file: string): Float32Array {
  const d = Buffer.from(npyData(file));
  return new Float32Array(d.buffer, d.byteOffset, d.byteLength / 4);
}

const labels = (): BigInt64Array => {
  const d = Buffer.from(npyData('eval-y.npy'));
  return new BigInt64Array(d.buffer, d.byteOffset, d.byteLength / 8);
};

function count(logits: Float32Array, y: BigInt64Array): number {
  let correct = 0;
  for (let i = 0; i < y.length; i++) {
    const row = logits.subarray(i * 10, i * 10 + 10);
    let best = 0;
    for (let j = 1; j < 10; j++) if (row[j] > row[best]) best = j;
    if (BigInt(best) === y[i]) correct++;
  }
  return correct;
}

function mcTop1(args: string[]): number {
  const r = runMc(['eval', ...args, '--labels', 'eval-y.npy', '--runs', '2', '--warmup', '1', '--json', '-'], { cwd: FIX });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const acc = JSON.parse(r.stdout).candidate.accuracy;
  expect(acc.samples).toBe(1000);
  return Math.round(acc.top1 * 1000);
}

test('mlp.onnx: mc eval top-1 equals the onnxruntime count', async () => {
  const y = labels();
  const session = await ort.InferenceSession.create(path.join(FIX, 'mlp.onnx'));
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', floatsOf('eval-x.npy'), [1000, 1, 28, 28]) };
  const out = await session.run(feeds);
  const correct = count(out[session.outputNames[0]].data as Float32Array, y);
  await session.release();
  expect(correct).toBeGreaterThan(800); // a trained model, not chance
  expect(mcTop1(['mlp.onnx', '--data', 'eval-x.npy'])).toBe(correct);
});

test('mlp-graph (tfjs graph-model): mc eval top-1 equals the stock tfjs count', async () => {
  const y = labels();
  const model = await tf.loadGraphModel(tfjsFileHandler(path.join(FIX, 'mlp-graph')));
  const logits = model.execute(tf.tensor(floatsOf('eval-x.npy'), [1000, 28, 28, 1])) as tf.Tensor;
  const correct = count((await logits.data()) as Float32Array, y);
  logits.dispose();
  model.dispose();
  expect(correct).toBeGreaterThan(800);
  // eval-x.npy is [N,1,28,28]; mc feeds it to the NHWC model as [N,28,28,1] (the same bytes, C = 1).
  expect(mcTop1(['mlp-graph', '--data', 'eval-x.npy', '--batch-size', '100'])).toBe(correct);
});
