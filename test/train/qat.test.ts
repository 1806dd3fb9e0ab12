/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Quantization-aware training, `mc finetune --qat` (issue 13).
 *
 *  1. Exactness: the fake quantization training runs (the tfjs op with its straight-through
 *     gradient) equals, bit for bit, the weight the written model computes: DequantizeLinear
 *     evaluated by onnxruntime itself (its outputs exposed as graph outputs), and MatMulNBits
 *     by a transcription of its layout (ORT ContribOperators.md: B uint8 [N, ⌈K/bs⌉, bs/2],
 *     low nibble first, scales [N·nBlocks], zero point 8 when absent, value (q − zp)·scale).
 *     Weights are perturbed first (seeded), so they are not the ones the fixtures shipped.
 *  2. Must show: RTN int4 (`mc quantize --bits 4`) is measured on the three fixture
 *     classifiers by stock onnxruntime on the 1,000 eval images; the one that loses most is
 *     fine-tuned with `--qat --bits 4 --granularity block --block-size 32` (distillation from
 *     the float model, 1 epoch over 10,000 training images from fashion-split.js, never the
 *     eval images) and must lose at most half of what RTN loses.
 *  3. Same seed → same bytes; the metadata records the QAT settings; bad combinations refused.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { loadModel } from '../../src/formats';
import type { Model } from '../../src/ir';
import { resolveQuantizeOptions, type QuantizeOptions } from '../../src/passes';
import { liftWeights, quantizeModel } from '../../src/pipeline/quantize';
import { useGradientBackend } from '../../src/runtime/executor';
import { fakeQuantViews, planQat, type QatSettings } from '../../src/train/fake-quant';
import { parseFinetuneFlags } from '../../src/cli/commands/finetune';
import { ROOT, tempDir, type McRun } from '../helpers/cli-run';
import { mcIn, sha, top1 } from './cli-helpers';
import { requireDep } from '../helpers/require-dep';
import { mulberry32 } from '../../src/util/prng';
import { perturb } from './perturb';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const split = require('./fashion-split') as { available(): boolean; writeTrainSplit(dir: string, n?: number): { x: string; y: string } };

const FIX = path.join(ROOT, 'fixtures');
const FIXTURES = ['cnn', 'mlp', 'ds-cnn'];
jest.setTimeout(1_800_000);


/** What the written model computes for each quantized weight, by name (in the weight's own layout). */
async function writtenWeights(q: Model, original: Model): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  const m = decodeOnnx(encodeOnnx(q));
  const shapes = new Map(original.graph.initializers.map((v) => [v.name, v.const!.shape]));
  // DequantizeLinear: onnxruntime's own outputs.
  const dq = m.graph.nodes.filter((n) => n.opType === 'DequantizeLinear' && n.outputs[0].name.endsWith('_dequantized'));
  for (const n of dq) {
    n.outputs[0].dtype = 'float32';
    m.graph.outputs.push(n.outputs[0]);
  }
  const s = await ort.InferenceSession.create(encodeOnnx(m));
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of m.graph.inputs.filter((i) => !i.const)) feeds[v.name] = new ort.Tensor('float32', new Float32Array(28 * 28), [1, 1, 28, 28]);
  const res = await s.run(feeds);
  for (const n of dq) out.set(n.outputs[0].name.replace(/_dequantized$/, ''), Float32Array.from(res[n.outputs[0].name].data as Float32Array));
  await s.release();
  // MatMulNBits: transcription of the contrib op's layout.
  for (const n of m.graph.nodes.filter((x) => x.opType === 'MatMulNBits')) {
    const name = n.inputs[1]!.name.replace(/_Q4$/, '');
    expect(n.inputs[3]).toBeFalsy(); // symmetric: no zero points, 8 implied
    const K = n.attrInt('K');
    const N = n.attrInt('N');
    const bs = n.attrInt('block_size');
    const B = n.inputs[1]!.const!.typed() as Uint8Array;
    const scales = n.inputs[2]!.const!.toFloat32();
    const nb = Math.ceil(K / bs);
    const shape = shapes.get(name)!;
    const nk = shape[0] === N && shape[1] === K; // [N, K] (Gemm transB) or [K, N]
    const w = new Float32Array(K * N);
    for (let c = 0; c < N; c++) {
      for (let k = 0; k < K; k++) {
        const byte = B[(c * nb + Math.floor(k / bs)) * (bs / 2) + Math.floor((k % bs) / 2)];
        const q = (k % 2 === 0 ? byte & 0x0f : byte >> 4) - 8;
        w[nk ? c * K + k : k * N + c] = Math.fround(q * scales[c * nb + Math.floor(k / bs)]);
      }
    }
    out.set(name, w);
  }
  return out;
}

describe('fake quantization is the quantize pass', () => {
  beforeAll(async () => {
    await useGradientBackend(tf, 'wasm');
  });

  test.each<[string, Partial<QuantizeOptions>, number]>([
    ['cnn', { bits: 4 }, 1],
    ['mlp', { bits: 4 }, 2],
    ['ds-cnn', { bits: 4 }, 3],
    ['mlp', { bits: 4, int4Format: 'qdq', symmetric: false }, 4],
    ['cnn', { bits: 8 }, 5],
    ['ds-cnn', { bits: 4, granularity: 'channel' }, 6],
  ])('%s %j: fake-quantized weights equal the written model\'s, bit for bit', async (fixture, asked, seed) => {
    const model = loadModel(path.join(FIX, `${fixture}.onnx`));
    perturb(model, seed);
    liftWeights(model);
    const qat: QatSettings = { quantize: resolveQuantizeOptions(asked), backupBits: 8 };
    const plan = planQat(model, qat);
    const views = fakeQuantViews(tf, plan);
    const fake = new Map<string, Float32Array>();
    for (const [v, op] of views) {
      const w = tf.tensor(v.const!.toFloat32(), [...v.const!.shape], 'float32');
      const y = op(w);
      fake.set(v.name, Float32Array.from(y.dataSync() as Float32Array));
      tf.dispose([w, y]);
    }
    const q = model.clone();
    const { report } = await quantizeModel(q, qat.quantize, { label: fixture, backup: { bits: 8 } });
    const written = await writtenWeights(q, model);
    // Every weight the pass quantized was fake-quantized (all of these fixtures' weights are trained ones).
    expect([...fake.keys()].sort()).toEqual(report.tensors.map((t) => t.name).sort());
    expect([...written.keys()].sort()).toEqual([...fake.keys()].sort());
    for (const [name, f] of fake) {
      const w = written.get(name)!;
      let diff = 0;
      for (let i = 0; i < f.length; i++) if (f[i] !== w[i]) diff++;
      expect({ name, differing: diff }).toEqual({ name, differing: 0 });
      // and it is a quantization, not the float weight passed through
      const orig = model.graph.initializers.find((v) => v.name === name)!.const!.toFloat32();
      expect(orig.some((x, i) => x !== f[i])).toBe(true);
    }
  });

  test('the gradient is straight through: d/dw sum(c · fq(w)) = c', async () => {
    const model = loadModel(path.join(FIX, 'ds-cnn.onnx'));
    const plan = planQat(model, { quantize: resolveQuantizeOptions({ bits: 4 }), backupBits: 8 });
    const [v, op] = [...fakeQuantViews(tf, plan)][0];
    const shape = [...v.const!.shape];
    const r = mulberry32(7);
    const c = tf.tensor(Float32Array.from({ length: v.const!.size }, () => r() - 0.5), shape);
    const w = tf.tensor(v.const!.toFloat32(), shape);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(op(x), c)))(w);
    expect(Array.from(g.dataSync())).toEqual(Array.from(c.dataSync()));
    tf.dispose([c, w, g]);
  });
});

describe('flags', () => {
  test('--qat takes mc quantize\'s names and defaults', () => {
    const o = parseFinetuneFlags('m.onnx', { data: 'x.npy', qat: true, bits: '4', granularity: 'block', blockSize: '32' });
    expect(o.settings.qat).toEqual({ quantize: resolveQuantizeOptions({ bits: 4, granularity: 'block', blockSize: 32 }), backupBits: 8 });
    expect(parseFinetuneFlags('m.onnx', { data: 'x.npy' }).settings.qat).toBeUndefined();
    expect(() => parseFinetuneFlags('m.onnx', { data: 'x.npy', granularity: 'block' })).toThrow(/add --qat/);
    expect(() => parseFinetuneFlags('m.onnx', { data: 'x.npy', qat: true, bits: '3' })).toThrow(/--bits must be 8 or 4/);
    expect(() => parseFinetuneFlags('m.onnx', { data: 'x.npy', qat: true, blockSize: '24' })).toThrow(/--block-size/);
  });
});

const mc = (args: string[], cwd: string): McRun => mcIn(['cli/commands/finetune', 'pipeline/finetune', 'train/fake-quant', 'train/trainable', 'passes/quantize/quantize-pass'], args, cwd);

const maybe = requireDep('fashion-mnist', split.available(), '/usr/share/datasets/fashion-mnist is missing (apt-get install dataset-fashion-mnist)').describe;

maybe('mc finetune --qat (built binary)', () => {
  let dir: string;
  let data: { x: string; y: string };
  beforeAll(() => {
    dir = tempDir('qat');
    data = split.writeTrainSplit(path.join(dir, 'split'), 10000);
  });

  test('int4 block-32 QAT on the most fragile fixture loses at most half of what RTN int4 loses', async () => {
    const rows: { fixture: string; float: number; rtn: number; qat?: number }[] = [];
    for (const f of FIXTURES) {
      const rtn = path.join(dir, `${f}.int4.onnx`);
      const r = mc(['quantize', path.join(FIX, `${f}.onnx`), '--bits', '4', '-o', rtn], dir);
      expect(r.code).toBe(0);
      rows.push({ fixture: f, float: await top1(path.join(FIX, `${f}.onnx`)), rtn: await top1(rtn) });
    }
    const fragile = rows.reduce((a, b) => (b.float - b.rtn > a.float - a.rtn ? b : a));
    const out = path.join(dir, `${fragile.fixture}.qat-int4.onnx`);
    // --lr 3e-4, chosen on a validation split (2,000 more training-split images, not the eval set) over seeds 0-2:
    // the default 1e-3 gave 86.25 / 88.65 / 88.75%, 3e-4 gave 88.65 / 88.20 / 88.80% (float 88.85, RTN 85.05);
    // --lr find picked 3.0e-4 at seed 0 and 7.7e-7 at seed 1 (docs/finetune.md).
    const args = ['finetune', path.join(FIX, `${fragile.fixture}.onnx`), '--data', data.x, '--qat', '--bits', '4', '--granularity', 'block', '--block-size', '32', '--lr', '3e-4', '-o', out];
    const r = mc(args, dir);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    fragile.qat = await top1(out);
    console.log(`QAT (mc ${args.join(' ').replace(dir, '<tmp>').replace(FIX, 'fixtures')}):\n${rows.map((x) => `  ${x.fixture}: float ${x.float}%, RTN int4 ${x.rtn}% (−${(x.float - x.rtn).toFixed(1)})${x.qat !== undefined ? `, QAT int4 ${x.qat}% (−${(x.float - x.qat).toFixed(1)})` : ''}`).join('\n')}`);
    expect(fragile.float - fragile.qat).toBeLessThanOrEqual((fragile.float - fragile.rtn) / 2);

    // The output is in the quantize pass's forms, and its metadata records the QAT settings.
    const m = decodeOnnx(fs.readFileSync(out));
    const meta = (k: string) => JSON.parse(m.metadataProps.find((p) => p.key === k)!.value) as Record<string, unknown>;
    expect(meta('mc.quantization')).toMatchObject({ bits: 4, granularity: 'block', blockSize: 32 });
    const ft = meta('mc.finetune') as { settings: { qat: Record<string, unknown> } };
    expect(ft.settings.qat).toMatchObject({ bits: 4, granularity: 'block', blockSize: 32, symmetric: true, backupBits: 8 });
    const rtnModel = decodeOnnx(fs.readFileSync(path.join(dir, `${fragile.fixture}.int4.onnx`)));
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(rtnModel.graph.nodes.map((n) => n.opType));
  });

  test('same seed, same bytes', () => {
    const outs = [0, 1].map((i) => path.join(dir, `det${i}.onnx`));
    for (const o of outs) expect(mc(['finetune', path.join(FIX, 'ds-cnn.onnx'), '--data', data.x, '--qat', '--samples', '320', '--seed', '3', '-o', o], dir).code).toBe(0);
    expect(sha(outs[0])).toBe(sha(outs[1]));
  });

  test('a tfjs model is refused in one line and nothing is written', () => {
    const o = path.join(dir, 'layers-qat');
    const r = mc(['finetune', path.join(FIX, 'cnn-layers'), '--data', data.x, '--qat', '--samples', '64', '-o', o], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--qat trains ONNX models/);
    expect(fs.existsSync(o)).toBe(false);
  });
});
