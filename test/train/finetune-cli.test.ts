/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * `mc finetune` through the built binary on the fixture CNN, judged by stock onnxruntime
 * on the 1,000 eval images. Training data: 10,000 Fashion-MNIST training images written
 * at test time from Debian's dataset-fashion-mnist (fashion-split.js: inside the fixtures'
 * training split, disjoint from the eval and calibration images). Skipped, loudly, where
 * the Debian files are missing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeOnnx } from '../../src/formats/onnx';
import { tempDir, type McRun } from '../helpers/cli-run';
import { evalSet, mcIn, sha, top1 } from './cli-helpers';
import { requireDep } from '../helpers/require-dep';
import { Model, Node, Tensor, Value, intAttr } from '../../src/ir';
import { saveModel } from '../../src/formats';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import * as tf from '@tensorflow/tfjs';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const split = require('./fashion-split') as { available(): boolean; writeTrainSplit(dir: string, n?: number): { x: string; y: string } };
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { encodeNpy } = require('../../scripts/fixtures/npy') as { encodeNpy(a: Float32Array, shape: number[]): Buffer };

const FIX = path.join(__dirname, '..', '..', 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const maybe = requireDep('fashion-mnist', split.available(), '/usr/share/datasets/fashion-mnist is missing (apt-get install dataset-fashion-mnist)').describe;
jest.setTimeout(1_800_000);

const mc = (args: string[], cwd: string): McRun => mcIn(['cli/commands/finetune', 'pipeline/finetune', 'train/loop', 'train/trainable', 'train/batchnorm-train', 'runtime/executor/normalization', 'runtime/executor/backend'], args, cwd);

/** Every float32 initializer's zeros, by name: [count, positions hash]. */
function zeros(file: string): Map<string, number[]> {
  const m = decodeOnnx(fs.readFileSync(file));
  const out = new Map<string, number[]>();
  for (const v of m.graph.initializers) {
    if (v.const?.dtype !== 'float32') continue;
    const d = v.const.toFloat32();
    const z: number[] = [];
    d.forEach((x: number, i: number) => { if (x === 0) z.push(i); });
    out.set(v.name, z);
  }
  return out;
}

maybe('mc finetune recovers pruned accuracy (fixture CNN, onnxruntime on the eval set)', () => {
  const dir = tempDir('finetune');
  let data: { x: string; y: string };
  let dense: number;
  beforeAll(async () => {
    data = split.writeTrainSplit(dir, 10000);
    dense = await top1(CNN);
  });

  // Issue 13's target: top-1 within 0.5 points of dense. With the stored BatchNormalization statistics frozen
  // (the default) this run reaches 89.2 (0.8 short); with --bn-mode train (each batch's own statistics, the
  // running ones updated and written, as PyTorch's model.train()) 89.5 at seed 0 — on the target, no margin —
  // and 89.6 / 89.6 at seeds 1 / 2 (by hand; dense 90.0). One standard deviation of top-1 on 1,000 images is
  // ~0.95 points, and on all 10,000 Fashion-MNIST test images the same runs stay 1.1–1.3 points under dense:
  // see the README. The output is deterministic (wasm), so this asserts the target as measured.
  test('90% unstructured (global magnitude) then 1 epoch of distillation with --bn-mode train, no labels: within 0.5 points of dense, masks kept', async () => {
    const pruned = path.join(dir, 'p90.onnx');
    const out = path.join(dir, 'p90-ft.onnx');
    expect(mc(['prune', CNN, '--sparsity', '0.9', '--scope', 'global', '-o', pruned], dir).code).toBe(0);
    const before = sha(pruned);
    const r = mc(['finetune', pruned, '--data', data.x, '--teacher', CNN, '--lr', 'find', '--bn-mode', 'train', '-o', out, '--json'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const prunedAcc = await top1(pruned);
    const tuned = await top1(out);
    const json = JSON.parse(r.stdout);
    console.log(`cnn 90% unstructured: dense ${dense}%, pruned ${prunedAcc}%, fine-tuned ${tuned}% (lr find picked ${json.training.lr})`);
    expect(sha(pruned)).toBe(before); // the input is untouched
    // Masks: every zero of the pruned model is still an exact zero, and the count is the same.
    const zb = zeros(pruned);
    const za = zeros(out);
    let kept = 0;
    for (const [name, z] of zb) {
      if (z.length < 10) continue; // biases and BN terms are not pruned
      expect({ name, zeros: za.get(name) }).toEqual({ name, zeros: z });
      kept += z.length;
    }
    expect(kept).toBe(json.training.maskedZeros);
    // Metadata: the settings and the teacher's sha256.
    const meta = JSON.parse(decodeOnnx(fs.readFileSync(out)).metadataProps.find((p) => p.key === 'mc.finetune')!.value);
    expect(meta.teacher.sha256).toBe(sha(CNN));
    expect(meta.settings).toMatchObject({ loss: 'kd', temperature: 2, epochs: 1, batchSize: 32, lr: 'find', schedule: 'cosine', seed: 0, bnMode: 'train' });
    // --bn-mode train wrote new running statistics (and left the stored ones of the input alone).
    const stats = (f: string) => decodeOnnx(fs.readFileSync(f)).graph.initializers.filter((v) => /running_(mean|var)/.test(v.name)).map((v) => Array.from(v.const!.toFloat32()));
    const [before3, after3] = [stats(pruned), stats(out)];
    expect(after3).toHaveLength(6);
    after3.forEach((a, i) => expect(a).not.toEqual(before3[i]));
    expect(tuned).toBeGreaterThanOrEqual(dense - 0.5);
  });

  test('50% channel pruning (saliency) then fine-tuned: within 1.5 points of dense', async () => {
    const pruned = path.join(dir, 'c50.onnx');
    const out = path.join(dir, 'c50-ft.onnx');
    const p = mc(['prune', CNN, '--sparsity', '0.5', '--pattern', 'channel', '--method', 'saliency', '--data', path.join(FIX, 'calib-x.npy'), '-o', pruned], dir);
    expect(p.code).toBe(0);
    const r = mc(['finetune', pruned, '--data', data.x, '--teacher', CNN, '--lr', 'find', '-o', out], dir);
    expect(r.code).toBe(0);
    const prunedAcc = await top1(pruned);
    const tuned = await top1(out);
    console.log(`cnn 50% channels (saliency): dense ${dense}%, pruned ${prunedAcc}%, fine-tuned ${tuned}%\n${r.stdout}`);
    // Shapes unchanged by training.
    const shapes = (f: string) => decodeOnnx(fs.readFileSync(f)).graph.initializers.map((v) => `${v.name}:${v.const!.shape.join('x')}`);
    expect(shapes(out)).toEqual(shapes(pruned));
    expect(tuned).toBeGreaterThanOrEqual(dense - 1.5);
  });

  // The same target on the tfjs layers model (stock tfjs trains it, with training: true under --bn-mode train):
  // 90.0 at seed 0, 89.7 / 89.4 at seeds 1 / 2 (measured by hand); 89.1 at seed 0 with the statistics frozen.
  test('tfjs layers-model: 90% unstructured then distillation on stock tfjs with --bn-mode train; the output loads in stock tfjs, within 0.5 points of dense', async () => {
    const layers = path.join(FIX, 'cnn-layers');
    const pruned = path.join(dir, 'l90');
    const out = path.join(dir, 'l90-ft');
    expect(mc(['prune', layers, '--sparsity', '0.9', '--scope', 'global', '-o', pruned], dir).code).toBe(0);
    const r = mc(['finetune', pruned, '--data', data.x, '--teacher', layers, '--lr', 'find', '--bn-mode', 'train', '-o', out], dir);
    expect(r.code).toBe(0);
    const { x: evalX, y: evalY } = evalSet();
    const acc = async (d: string) => {
      const lm = await tf.loadLayersModel(tfjsFileHandler(d));
      const x = tf.tensor4d(evalX, [1000, 28, 28, 1]);
      const pred = (tf.argMax(lm.predict(x) as tf.Tensor, -1).dataSync() as Int32Array);
      let right = 0;
      pred.forEach((p, i) => { if (p === evalY[i]) right++; });
      tf.dispose(x);
      lm.dispose();
      return right / 10;
    };
    const denseL = await acc(layers);
    const prunedL = await acc(pruned);
    const tuned = await acc(out);
    console.log(`cnn-layers 90% unstructured: dense ${denseL}%, pruned ${prunedL}%, fine-tuned ${tuned}% (stock tfjs)\n${r.stdout}`);
    expect(r.stdout).toMatch(/3 BatchNormalization layer\(s\) normalize each batch with its own statistics/);
    // The moving statistics were written (the manifest's moving_mean/moving_variance changed).
    const stats = (d: string) => {
      const m = JSON.parse(fs.readFileSync(path.join(d, 'model.json'), 'utf8')) as { weightsManifest: { weights: { name: string }[] }[] };
      const names = m.weightsManifest.flatMap((g) => g.weights.map((w) => w.name)).filter((n) => /moving_(mean|variance)/.test(n));
      return names;
    };
    expect(stats(out)).toHaveLength(6);
    const lmP = await tf.loadLayersModel(tfjsFileHandler(pruned));
    const lmT = await tf.loadLayersModel(tfjsFileHandler(out));
    const moving = (lm: tf.LayersModel) => lm.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => Array.from(l.getWeights()[2].dataSync()));
    moving(lmT).forEach((a, i) => expect(a).not.toEqual(moving(lmP)[i]));
    lmP.dispose();
    lmT.dispose();
    expect(tuned).toBeGreaterThanOrEqual(denseL - 0.5);
  });

  test('the same seed gives byte-identical output; another seed differs', () => {
    const pruned = path.join(dir, 'p90.onnx');
    const run = (seed: string, name: string) => {
      const out = path.join(dir, name);
      expect(mc(['finetune', pruned, '--data', data.x, '--teacher', CNN, '--samples', '640', '--seed', seed, '-o', out], dir).code).toBe(0);
      return sha(out);
    };
    const a = run('7', 'd1.onnx');
    expect(run('7', 'd2.onnx')).toBe(a);
    expect(run('8', 'd3.onnx')).not.toBe(a);
  });
});

/** A model reading the CNN's input whose output has 5 classes, or one that goes through a Cast. */
function smallModel(file: string, kind: 'five' | 'cast'): void {
  const m = new Model('onnx');
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = m.graph;
  const x = new Value('input', { dtype: 'float32', shape: ['N', 1, 28, 28] });
  g.inputs.push(x);
  const flat = new Value('flat');
  g.addNode(new Node({ opType: 'Flatten', name: 'flatten', inputs: [x], outputs: [flat] }));
  const w = g.addInitializer('w', Tensor.fromArray('float32', [784, 5], new Float32Array(3920).fill(0.01), 'w'));
  const y = new Value(kind === 'five' ? 'logits' : 'mm', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'MatMul', name: 'fc', inputs: [flat, w], outputs: [y] }));
  if (kind === 'five') {
    g.outputs.push(y);
  } else {
    const z = new Value('asint', { dtype: 'int32' });
    const o = new Value('logits', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Cast', name: 'to_int', inputs: [y], outputs: [z], attributes: [intAttr('to', 6)] }));
    g.addNode(new Node({ opType: 'Cast', name: 'to_float', inputs: [z], outputs: [o], attributes: [intAttr('to', 1)] }));
    g.outputs.push(o);
  }
  saveModel(m, file);
}

describe('mc finetune: bad input gives one clear line, writes nothing, leaves the input alone', () => {
  const dir = tempDir('finetune-bad');
  const x = path.join(FIX, 'calib-x.npy');
  const five = path.join(dir, 'five.onnx');
  const cast = path.join(dir, 'cast.onnx');
  beforeAll(() => {
    smallModel(five, 'five');
    smallModel(cast, 'cast');
    // 784 features per sample: does not fit the CNN's [N, 1, 28, 28] input.
    const flat = path.join(dir, 'flat.npy');
    fs.writeFileSync(flat, encodeNpy(new Float32Array(64 * 784), [64, 784]));
    // Sample 40 all Infinity: whichever of the two batches holds it has a non-finite loss.
    const nan = new Float32Array(64 * 784).fill(0.5);
    nan.fill(Infinity, 40 * 784, 41 * 784);
    fs.writeFileSync(path.join(dir, 'nan.npy'), encodeNpy(nan, [64, 1, 28, 28]));
  });
  const cnnSha = sha(CNN);
  test.each([
    ['a teacher whose outputs do not match', [CNN, '--data', x, '--teacher', five], 2, /teacher's output \[1,5\] does not match the student's \[1,10\]/],
    ['training data that does not fit the input', [CNN, '--data', 'flat.npy'], 2, /784|shape/],
    // five.onnx (Flatten → MatMul): no ReLU or MaxPool to clamp the Infinity away (wasm's clamp drops NaN).
    ['a NaN loss', [five, '--data', 'nan.npy', '--lr', '0.002', '--schedule', 'constant', '--warmup', '0'], 1, /the loss became (NaN|Infinity) at step [12] \(epoch 1\) with learning rate 0\.00200; nothing written/],
    ['an op without a gradient', [cast, '--data', x, '--loss', 'ce', '--labels', path.join(FIX, 'calib-y.npy')], 2, /cannot train 'w'.*Cast node 'to_int', which has no gradient/],
  ])('%s', (_name, args, code, message) => {
    const out = path.join(dir, `${_name.replace(/\W+/g, '-')}.onnx`);
    const r = mc(['finetune', ...(args as string[]), '-o', out], dir);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.code).toBe(code);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
    expect(sha(CNN)).toBe(cnnSha);
  });
});
