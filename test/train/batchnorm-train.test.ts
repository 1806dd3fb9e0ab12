/**
 * --bn-mode train (src/train/batchnorm-train.ts, the executor's BatchNormalization with
 * batch statistics) against PyTorch 1.13 in float64 (test/train/batchnorm_oracle.py,
 * F.batch_norm with training=True): Conv → BatchNormalization on a seeded batch, the loss
 * Σ y ⊙ R, its gradients at the conv weight (which flow through the batch mean and
 * variance) and at scale and bias, and the running statistics after the step as the ONNX
 * spec's training mode defines them (node momentum 0.9, population variance).
 *
 * Tolerance: tfjs computes in float32; the outputs are O(1) sums of ≤ 18 products and the
 * gradients sums of ≤ 200 terms of size ≲ 3, so float32 rounding stays under 1e-5·(1 + |v|),
 * checked at 1e-4·(1 + |v|).
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { floatAttr, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { Executor, useGradientBackend } from '../../src/runtime/executor';
import { RunningBatchNorm } from '../../src/train';
import { ORACLE_PYTHON, requirePython } from '../helpers/require-dep';

const torch = requirePython('torch', ['torch'], 'python3-torch');

let seed = 3;
const rand = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296));

const X = [4, 2, 5, 5];
const W = [3, 2, 3, 3];

function convBn(stats: { shared?: boolean } = {}): { m: Model; w: Value; scale: Value; bias: Value; mean: Value; variance: Value } {
  const m = new Model('onnx');
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 15 }];
  const g = m.graph;
  const x = new Value('x', { dtype: 'float32', shape: X });
  g.inputs.push(x);
  const init = (name: string, shape: number[], data: Float32Array) => g.addInitializer(name, Tensor.fromArray('float32', shape, data, name));
  const w = init('w', W, rand(54, -0.5, 0.5));
  const scale = init('scale', [3], rand(3, 0.5, 1.5));
  const bias = init('bias', [3], rand(3));
  const mean = init('mean', [3], rand(3, -0.2, 0.2));
  const variance = init('var', [3], rand(3, 0.5, 2));
  const c = new Value('c', { dtype: 'float32' });
  const y = new Value('y', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Conv', name: 'conv', inputs: [x, w], outputs: [c], attributes: [intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])] }));
  g.addNode(new Node({ opType: 'BatchNormalization', name: 'bn', inputs: [c, scale, bias, mean, variance], outputs: [y], attributes: [floatAttr('epsilon', 1e-3), floatAttr('momentum', 0.9)] }));
  g.outputs.push(y);
  if (stats.shared) {
    const y2 = new Value('y2', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'BatchNormalization', name: 'bn2', inputs: [y, scale, bias, mean, variance], outputs: [y2] }));
    g.outputs.push(y2);
  }
  return { m, w, scale, bias, mean, variance };
}

const near = (name: string, got: ArrayLike<number>, want: number[]) => {
  expect(got.length).toBe(want.length);
  const bad = want.map((v, i) => [i, got[i], v] as const).filter(([, a, b]) => !(Math.abs(a - b) <= 1e-4 * (1 + Math.abs(b))));
  expect({ name, bad: bad.slice(0, 3) }).toEqual({ name, bad: [] });
};

beforeAll(async () => {
  await useGradientBackend(tf, 'wasm');
});

describe('BatchNormalization with batch statistics (--bn-mode train)', () => {
  torch.test('output, gradients through the batch statistics, and the running statistics match PyTorch', () => {
    const { m, w, scale, bias, mean, variance } = convBn();
    const x = rand(X.reduce((a, b) => a * b));
    const R = rand(4 * 3 * 5 * 5);
    const flat = (v: Value) => [...v.const!.toFloat32()];
    const req = {
      shapes: { x: X, R: [4, 3, 5, 5], w: W }, x: [...x], R: [...R], w: flat(w), scale: flat(scale), bias: flat(bias),
      mean: flat(mean), var: flat(variance), momentum: 0.9, epsilon: 1e-3,
    };
    const want = JSON.parse(execFileSync(ORACLE_PYTHON, [path.join(__dirname, 'batchnorm_oracle.py')], { input: JSON.stringify(req) }).toString()) as Record<string, number[]>;
    const bn = new RunningBatchNorm(m);
    expect(bn.nodes.map((n) => n.name)).toEqual(['bn']);
    const ex = new Executor(m, tf);
    const feeds = { x: tf.tensor(x, X) };
    const r = tf.tensor(R, [4, 3, 5, 5]);
    let y: Float32Array | undefined;
    const { grads } = ex.lossAndGrads(feeds, [w, scale, bias], (outs) => {
      y = outs[0].dataSync() as Float32Array;
      return tf.sum(tf.mul(outs[0], r));
    }, undefined, undefined, bn);
    near('y', y!, want.y);
    near('dL/dw', grads[0].dataSync(), want.w);
    near('dL/dscale', grads[1].dataSync(), want.scale);
    near('dL/dbias', grads[2].dataSync(), want.bias);
    // Frozen statistics give other gradients at the conv weight: the batch path is what was checked.
    const frozen = ex.lossAndGrads(feeds, [w], (outs) => tf.sum(tf.mul(outs[0], r)));
    const gw = frozen.grads[0].dataSync();
    expect(Math.max(...want.w.map((v, i) => Math.abs(v - gw[i])))).toBeGreaterThan(1e-2);
    // The running statistics: into the IR constants, where inference reads them.
    expect(bn.writeBack()).toEqual([mean, variance]);
    near('running mean', mean.const!.toFloat32(), want.runningMean);
    near('running var', variance.const!.toFloat32(), want.runningVar);
    tf.dispose([...grads, ...frozen.grads, r, ...Object.values(feeds)]);
    ex.dispose();
  });

  test('save() undoes later updates (the learning-rate range test\'s steps); overrides() feed the running statistics to inference', () => {
    const { m, mean, variance } = convBn();
    const bn = new RunningBatchNorm(m);
    const ex = new Executor(m, tf);
    const feeds = { x: tf.tensor(rand(200), X) };
    const stored = [Array.from(mean.const!.toFloat32()), Array.from(variance.const!.toFloat32())];
    const restore = bn.save();
    tf.dispose(ex.run(feeds, { batchStats: bn }));
    const moved = bn.overrides(tf);
    expect(Array.from(moved.get(mean)!.dataSync())).not.toEqual(stored[0]);
    // Inference with the overrides is inference after writing them into the model.
    const [a] = ex.run(feeds, { overrides: moved });
    ex.invalidate(bn.writeBack());
    const [b] = ex.run(feeds);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    restore();
    const back = bn.overrides(tf);
    expect([Array.from(back.get(mean)!.dataSync()), Array.from(back.get(variance)!.dataSync())]).toEqual(stored);
    tf.dispose([a, b, ...moved.values(), ...back.values(), ...Object.values(feeds)]);
    ex.dispose();
  });

  test('statistics shared by two nodes stay frozen; one value per channel is refused', () => {
    expect(new RunningBatchNorm(convBn({ shared: true }).m).nodes).toEqual([]);
    const m = new Model('onnx');
    m.opsetImports = [{ domain: '', version: 15 }];
    const g = m.graph;
    const x = new Value('x', { dtype: 'float32', shape: [1, 3] });
    g.inputs.push(x);
    const p = ['s', 'b', 'mu', 'v'].map((n) => g.addInitializer(n, Tensor.fromArray('float32', [3], Float32Array.of(1, 1, 1), n)));
    const y = new Value('y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'BatchNormalization', name: 'bn1d', inputs: [x, ...p], outputs: [y] }));
    g.outputs.push(y);
    const ex = new Executor(m, tf);
    const feeds = { x: tf.tensor([[1, 2, 3]]) };
    expect(() => ex.run(feeds, { batchStats: new RunningBatchNorm(m) })).toThrow(/BatchNormalization node 'bn1d'.*more than 1 value per channel.*has 1.*--bn-mode frozen/);
    tf.dispose(Object.values(feeds));
    ex.dispose();
  });
});
