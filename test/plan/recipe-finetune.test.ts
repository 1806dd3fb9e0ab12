/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * A recipe's finetune step (issue 13): the keys are `mc finetune`'s flags (the schema in
 * docs/recipe.schema.json lists every one), errors name the recipe line, and `mc apply`'s path
 * (applyPlanToFile) runs prune then finetune: the output runs in stock onnxruntime, every zero
 * the prune step left is still an exact zero, and the default teacher is the recipe's model as
 * given (distilling from the dense model moves the pruned one towards it; a pruned teacher
 * would give a zero loss and no movement). Training data: a small split of Fashion-MNIST
 * training images (test/train/fashion-split.js; never the eval images), skipped loudly where
 * Debian's dataset-fashion-mnist is missing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { COMMANDS } from '../../src/cli/commands';
import { decodeOnnx } from '../../src/formats/onnx';
import { parseFinetuneFlags } from '../../src/cli/commands/finetune';
import { applyPlanToFile, parseRecipe, recipeDocument, type FinetuneStep, type QuantizeStep, type StaticStep } from '../../src/plan';
import { ROOT, tempDir } from '../helpers/cli-run';
import { requireDep } from '../helpers/require-dep';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const split = require('../train/fashion-split') as { available(): boolean; writeTrainSplit(dir: string, n?: number): { x: string; y: string } };

const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'recipe.schema.json'), 'utf8'));
jest.setTimeout(600_000);

test('every finetune key is an mc finetune flag of the same name, and every training flag a key', () => {
  const cmd = new Command('finetune');
  COMMANDS.find((c) => c.name === 'finetune')!.configure(cmd);
  const flags = cmd.options.map((o) => o.long!.replace(/^--/, ''));
  // About the run (where to write, how to print), and QAT's: --qat is a quantize step's finetune: (below).
  const runOnly = ['output', 'force', 'json', 'qat'];
  // QAT's quantize settings, weight-only and static (--calib): keys of the quantize step that carries finetune:.
  const qatFlags = ['bits', 'granularity', 'block-size', 'asymmetric', 'int4-format', 'backup-bits', 'op-types',
    'calib', 'calib-method', 'percentile', 'calib-samples', 'per-tensor', 'small-layers'];
  const keys = Object.keys(schema.definitions.finetune.properties);
  // scope and min-density set how gradual pruning ranks (mc prune's flags of those names); mc finetune --prune-to uses their defaults.
  expect(keys.filter((k) => !flags.includes(k) && !['scope', 'min-density'].includes(k))).toEqual([]);
  expect(flags.filter((f) => ![...runOnly, ...qatFlags, 'exclude'].includes(f) && !keys.includes(f))).toEqual([]);
  // --qat ↔ the quantize step's finetune:, whose keys are the finetune step's (one definition).
  expect(schema.definitions.quantize.properties.finetune.$ref).toBe('#/definitions/finetune');
  // Every QAT setting of mc finetune is a quantize step key of the same name, and --exclude the step-level exclude.
  const quantizeKeys = Object.keys(schema.definitions.quantize.properties);
  expect(qatFlags.filter((f) => !quantizeKeys.includes(f))).toEqual([]);
  expect(Object.keys(schema.definitions.step.properties)).toContain('exclude');
  // and none of them is a training key: a flag names one thing.
  expect(qatFlags.filter((f) => keys.includes(f))).toEqual([]);
});

test('the QAT flags of mc finetune and a quantize step\'s keys give the same quantize settings', () => {
  const flags = parseFinetuneFlags('m.onnx', { data: 'x.npy', qat: true, bits: '4', granularity: 'channel', asymmetric: true, int4Format: 'qdq', backupBits: '16', exclude: ['conv1*'], opTypes: 'Conv,MatMul' });
  const step = parseRecipe('steps:\n  - quantize: { bits: 4, granularity: channel, asymmetric: true, int4-format: qdq, backup-bits: 16, op-types: [Conv, MatMul], finetune: { data: x.npy } }\n    exclude: [conv1*]\n', 'r.yaml', '/tmp').steps[0] as QuantizeStep;
  expect({ quantize: { ...step.options, exclude: step.select.exclude }, backupBits: step.backupBits }).toEqual(flags.settings.qat);
  const sflags = parseFinetuneFlags('m.onnx', { data: 'x.npy', qat: true, calib: 'c.npy', calibMethod: 'percentile', percentile: '99.9', calibSamples: '64', perTensor: true, smallLayers: 'int8' });
  const sstep = parseRecipe('steps:\n  - quantize: { calib: c.npy, calib-method: percentile, percentile: 99.9, calib-samples: 64, per-tensor: true, small-layers: int8, finetune: { data: x.npy } }\n', 'r.yaml', '/tmp').steps[0] as StaticStep;
  expect(sstep.options).toEqual(sflags.settings.qatStatic!.options);
  // and the training settings: the same keys, the same defaults
  const { qat: _q, qatStatic: _s, prune: _p, ...training } = sflags.settings;
  expect(sstep.finetune!.settings).toEqual({ ...training, prune: undefined });
});

describe('finetune step keys are checked with the recipe line', () => {
  const parse = (body: string) => () => parseRecipe(`steps:\n  - prune:\n      sparsity: 0.5\n  - finetune:\n${body}`, 'r.yaml', '/tmp');
  test.each([
    ['      data: x.npy\n      epoch: 2\n', /^r\.yaml:6: steps\[1\]\.finetune: unknown key 'epoch' \(did you mean 'epochs'\?\)$/],
    ['      data: x.npy\n      lr: fast\n', /^r\.yaml:6: steps\[1\]\.finetune\.lr must be a number or find, got "fast"$/],
    ['      data: x.npy\n      loss: ce\n', /^r\.yaml:5: steps\[1\]\.finetune: loss ce needs labels$/],
    ['      lr: 0.001\n', /^r\.yaml:5: steps\[1\]\.finetune: missing key 'data'$/],
    ['      data: x.npy\n      prune-end: 0.5\n', /^r\.yaml:5: steps\[1\]\.finetune: 'prune-end' is a gradual pruning key: it needs prune-to$/],
  ])('%j', (body, message) => {
    expect(parse(body)).toThrow(message);
  });

  test('a finetune step takes no layers, and runs after the prune steps', () => {
    expect(() => parseRecipe('steps:\n  - finetune:\n      data: x.npy\n    layers: [fc1.weight]\n', 'r.yaml', '/tmp')).toThrow(/^r\.yaml:3: steps\[0\]\.finetune: a finetune step trains every trainable weight/);
    const plan = parseRecipe('steps:\n  - finetune:\n      data: x.npy\n  - prune:\n      sparsity: 0.5\n', 'r.yaml', '/tmp');
    return expect(applyPlanToFile({ input: CNN, output: path.join(tempDir('ft-order'), 'o.onnx'), plan })).rejects.toThrow(/^r\.yaml:5: steps\[1\]\.prune: steps run in the order prune, finetune, quantize/);
  });

  test('written back with every default, the step reads as the same step', () => {
    const plan = parseRecipe('steps:\n  - finetune:\n      data: d/x.npy\n      lr: find\n      prune-to: 0.8\n', 'r.yaml', '/tmp/rc');
    const doc = recipeDocument(plan);
    expect(doc.steps).toEqual([{
      finetune: {
        data: 'd/x.npy', loss: 'kd', temperature: 2, alpha: 0.5, epochs: 1, 'batch-size': 32, optimizer: 'adam', momentum: 0.9, 'weight-decay': 0,
        lr: 'find', schedule: 'cosine', warmup: 0.05, seed: 0, 'bn-recalibrate': false,
        'prune-to': 0.8, 'initial-sparsity': 0, 'prune-frequency': 100, 'prune-end': 0.75, scope: 'global', 'min-density': 0.05,
      },
      'allow-empty': false,
    }]);
    const again = parseRecipe(JSON.stringify(doc), 'again.json', '/tmp/rc');
    expect(again.steps).toEqual(plan.steps);
    expect((plan.steps[0] as FinetuneStep).data).toBe(path.join('/tmp/rc', 'd/x.npy'));
  });
});

const maybe = requireDep('fashion-mnist', split.available(), '/usr/share/datasets/fashion-mnist is missing (apt-get install dataset-fashion-mnist)').describe;

maybe('mc apply: prune then finetune', () => {
  let evalX: Float32Array;
  const N = 500;
  async function logits(file: string): Promise<Float32Array> {
    const s = await ort.InferenceSession.create(file);
    const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', evalX, [N, 1, 28, 28]) });
    await s.release();
    return out[s.outputNames[0]].data as Float32Array;
  }
  const argmax = (l: Float32Array, i: number) => {
    let b = 0;
    for (let c = 1; c < 10; c++) if (l[i * 10 + c] > l[i * 10 + b]) b = c;
    return b;
  };
  const agreement = (a: Float32Array, b: Float32Array) => {
    let n = 0;
    for (let i = 0; i < N; i++) if (argmax(a, i) === argmax(b, i)) n++;
    return n / N;
  };
  /** Zero positions of every float32 weight with at least 10 zeros (the pruned ones). */
  const zeros = (file: string) => {
    const out = new Map<string, number[]>();
    for (const v of decodeOnnx(fs.readFileSync(file)).graph.initializers) {
      if (v.const?.dtype !== 'float32') continue;
      const z: number[] = [];
      v.const.toFloat32().forEach((x: number, i: number) => { if (x === 0) z.push(i); });
      if (z.length >= 10) out.set(v.name, z);
    }
    return out;
  };

  test('the output runs in onnxruntime, the prune masks hold, it moved towards the dense model, and it repeats byte for byte', async () => {
    const x = fs.readFileSync(path.join(FIX, 'eval-x.npy'));
    const all = new Float32Array(x.buffer.slice(x.byteOffset + x.length - 1000 * 784 * 4, x.byteOffset + x.length));
    evalX = all.subarray(0, N * 784);
    const dir = tempDir('recipe-finetune');
    split.writeTrainSplit(dir, 2048);
    const prunedOnly = path.join(dir, 'p.onnx');
    const out = path.join(dir, 'pf.onnx');
    const prune = '  - prune:\n      sparsity: 0.8\n      scope: global\n';
    const recipe = `model: ${CNN}\nsteps:\n${prune}  - finetune:\n      data: train-x.npy\n      lr: 0.003\n`;
    fs.writeFileSync(path.join(dir, 'r.yaml'), recipe);
    await applyPlanToFile({ input: CNN, output: prunedOnly, plan: parseRecipe(`steps:\n${prune}`, 'p.yaml', dir) });
    const r = await applyPlanToFile({ input: CNN, output: out, plan: parseRecipe(recipe, 'r.yaml', dir) });
    expect(r.verified).toBe(true);
    const ft = r.results.find((s) => s.kind === 'finetune');
    expect(ft && ft.kind === 'finetune' && ft.training.steps).toBe(64);

    // Masks: the prune step's zeros, exactly, in every pruned weight.
    const zp = zeros(prunedOnly);
    expect([...zp.keys()].sort()).toEqual(['conv1.weight', 'conv2.weight', 'conv3.weight', 'fc1.weight', 'logits.weight']);
    const zf = zeros(out);
    for (const [name, z] of zp) expect({ name, zeros: zf.get(name) }).toEqual({ name, zeros: z });

    const [dense, pruned, tuned] = [await logits(CNN), await logits(prunedOnly), await logits(out)];
    for (const v of tuned) expect(Number.isFinite(v)).toBe(true);
    const before = agreement(pruned, dense);
    const after = agreement(tuned, dense);
    console.log(`recipe prune 80% global → finetune (64 steps, kd from the recipe's model): top-1 agreement with dense on ${N} eval images ${(before * 100).toFixed(1)}% → ${(after * 100).toFixed(1)}%`);
    expect(after).toBeGreaterThan(before);
    // Same recipe, same seed: the same bytes.
    const again = path.join(dir, 'pf2.onnx');
    await applyPlanToFile({ input: CNN, output: again, plan: parseRecipe(recipe, 'r.yaml', dir) });
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
    // The canonical recipe recorded in the output names the finetune step.
    const meta = decodeOnnx(fs.readFileSync(out)).metadataProps.find((p) => p.key === 'mc.recipe')!.value;
    expect(JSON.parse(meta).steps[1].finetune).toMatchObject({ data: 'train-x.npy', lr: 0.003, loss: 'kd' });
  });
});
