/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * `mc finetune` and gradual pruning on a tfjs graph model (tfjs-converter output, the form
 * npm packages ship), through the built binary, judged by stock tfjs (loadGraphModel +
 * execute) on the 1,000 eval images. The fixture is the CNN's graph model (fixtures/cnn-graph:
 * _FusedConv2D with folded BN, _FusedMatMul). Training data: Fashion-MNIST training images
 * written at test time (fashion-split.js; never the eval images), skipped loudly where
 * Debian's dataset-fashion-mnist is missing.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/formats';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { tempDir, type McRun } from '../helpers/cli-run';
import { evalSet, FIX, mcIn } from './cli-helpers';
import { requireDep } from '../helpers/require-dep';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const split = require('./fashion-split') as { available(): boolean; writeTrainSplit(dir: string, n?: number): { x: string; y: string } };

const GRAPH = path.join(FIX, 'cnn-graph');
const maybe = requireDep('fashion-mnist', split.available(), '/usr/share/datasets/fashion-mnist is missing (apt-get install dataset-fashion-mnist)').describe;
jest.setTimeout(1_200_000);

const mc = (args: string[], cwd: string): McRun => mcIn(['cli/commands/finetune', 'cli/commands/prune', 'pipeline/finetune', 'train/loop', 'train/trainable', 'train/params'], args, cwd);

/** Top-1 (%) by stock tfjs's GraphModel on the eval images (NHWC). */
async function top1(dir: string): Promise<number> {
  const { x: evalX, y: evalY } = evalSet();
  const gm = await tf.loadGraphModel(tfjsFileHandler(dir));
  const x = tf.tensor4d(evalX, [1000, 1, 28, 28]).transpose([0, 2, 3, 1]);
  const out = gm.execute(x) as tf.Tensor;
  const pred = tf.argMax(out, -1).dataSync() as Int32Array;
  let right = 0;
  pred.forEach((p, i) => { if (p === evalY[i]) right++; });
  tf.dispose([x, out]);
  gm.dispose();
  return right / 10;
}

/** Each float32 weight of a saved model: its values, by name. */
function weights(dir: string): Map<string, Float32Array> {
  return new Map(loadModel(dir).graph.initializers.filter((v) => v.const?.dtype === 'float32').map((v) => [v.name, Float32Array.from(v.const!.toFloat32())]));
}

const ops = (dir: string): string[] => (JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).modelTopology.node as { op: string; name: string }[]).map((n) => `${n.name}:${n.op}`);
function zerosOf(d: Float32Array): number[] {
  const z: number[] = [];
  d.forEach((x, i) => { if (x === 0) z.push(i); });
  return z;
}

maybe('tfjs graph model: fine-tuning on stock tfjs (fixture CNN graph model)', () => {
  const dir = tempDir('finetune-graph');

  test('90% unstructured then distillation: every zero kept, the graph unchanged, loads in stock tfjs and recovers most of the loss', async () => {
    const data = split.writeTrainSplit(dir, 10000);
    const pruned = path.join(dir, 'g90');
    const out = path.join(dir, 'g90-ft');
    expect(mc(['prune', GRAPH, '--sparsity', '0.9', '--scope', 'global', '-o', pruned], dir).code).toBe(0);
    const r = mc(['finetune', pruned, '--data', data.x, '--teacher', GRAPH, '--lr', 'find', '-o', out], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tfjs graph model on stock tfjs/);

    // The same nodes and ops; every float weight trained (filters, biases), every pruned zero still exactly zero.
    expect(ops(out)).toEqual(ops(pruned));
    const before = weights(pruned);
    const after = weights(out);
    const trained = [...before.keys()].filter((k) => !before.get(k)!.every((x, i) => x === after.get(k)![i]));
    expect(trained.sort()).toEqual([...before.keys()].sort());
    let kept = 0;
    for (const [name, w] of before) {
      const z = zerosOf(w);
      expect({ name, zeros: zerosOf(after.get(name)!) }).toEqual({ name, zeros: z });
      kept += z.length;
    }
    expect(r.stdout).toContain(`${kept} pruned zero(s) kept`);

    const [dense, p, tuned] = [await top1(GRAPH), await top1(pruned), await top1(out)];
    console.log(`cnn-graph 90% unstructured: dense ${dense}%, pruned ${p}%, fine-tuned ${tuned}% (stock tfjs GraphModel)\n${r.stdout}`);
    expect(dense - tuned).toBeLessThan(tuned - p);
    if (tuned < dense - 0.5) console.warn(`KNOWN GAP (issue 13): tfjs graph model fine-tuned ${tuned}% is ${(dense - tuned).toFixed(1)} points under dense ${dense}%; the target is 0.5`);
  });

  test('gradual (polynomial) pruning of the graph model prunes its filters and MatMul weights to exactly 90%, and the output runs in stock tfjs', async () => {
    const data = split.writeTrainSplit(path.join(dir, 'small'), 640);
    const out = path.join(dir, 'gradual');
    const r = mc(['prune', GRAPH, '--sparsity', '0.9', '--scope', 'global', '--schedule', 'polynomial', '--finetune-epochs', '1', '--frequency', '5', '--data', data.x, '--lr', '1e-3', '-o', out], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The layer weights are the registry's 'weight' slots: Conv2D filters and MatMul b; biases stay dense.
    const layer = [...weights(out)].filter(([k]) => /Conv2D\/ReadVariableOp|MatMul\/ReadVariableOp/.test(k));
    expect(layer.length).toBe(5);
    const n = layer.reduce((a, [, w]) => a + w.length, 0);
    expect(layer.reduce((a, [, w]) => a + zerosOf(w).length, 0)).toBe(Math.round(0.9 * n));
    for (const [k, w] of weights(out)) if (!layer.some(([l]) => l === k)) expect({ k, zeros: zerosOf(w).length }).toEqual({ k, zeros: 0 });
    const acc = await top1(out);
    expect(acc).toBeGreaterThan(10);
  });

  test('the same seed gives byte-identical output; another seed differs', () => {
    const data = split.writeTrainSplit(path.join(dir, 'det'), 256);
    const run = (seed: string, out: string) => {
      const r = mc(['finetune', GRAPH, '--prune-to', '0.5', '--data', data.x, '--seed', seed, '--lr', '1e-3', '-o', path.join(dir, out)], dir);
      expect(r.code).toBe(0);
      return fs.readFileSync(path.join(dir, out, 'group1-shard1of1.bin'));
    };
    const [a, b, c] = [run('5', 'det-a'), run('5', 'det-b'), run('6', 'det-c')];
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  test('--bn-mode train is refused on a graph model, in one line, and nothing is written', () => {
    const data = split.writeTrainSplit(path.join(dir, 'bn'), 64);
    const out = path.join(dir, 'bn-out');
    const r = mc(['finetune', GRAPH, '--data', data.x, '--bn-mode', 'train', '-o', out], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--bn-mode train.*ONNX and tfjs layers models.*--bn-mode frozen/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
