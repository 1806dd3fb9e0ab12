/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
/**
 * Pruning the trained Fashion-MNIST fixtures through the library entry of
 * `mc prune` (pruneFile), evaluated in onnxruntime on the eval set. Saliency
 * gradients come from calib-x.npy (training images, disjoint from eval) with
 * labels derived from the Fashion-MNIST training set (the fixtures ship none).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { parsePruneFlags } from '../../src/cli/commands/prune';
import { pruneFile, type PruneFileResult } from '../../src/pipeline/prune';
import { deriveCalibLabels, readNpyF32, writeNpy } from './helpers';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-prune-'));
const calibLabels = path.join(tmp, 'calib-y.npy');

async function accuracy(model: string): Promise<number> {
  const { data, shape } = readNpyF32(path.join(FIX, 'eval-x.npy'));
  const yb = fs.readFileSync(path.join(FIX, 'eval-y.npy'));
  const hl = yb.readUInt16LE(8);
  const y = new BigInt64Array(yb.buffer.slice(yb.byteOffset + 10 + hl, yb.byteOffset + yb.byteLength));
  const s = await ort.InferenceSession.create(model);
  try {
    const input = s.inputNames[0];
    const out = await s.run({ [input]: new ort.Tensor('float32', data, shape) });
    const logits = out[s.outputNames[0]].data as Float32Array;
    let correct = 0;
    for (let i = 0; i < shape[0]; i++) {
      let best = 0;
      for (let k = 1; k < 10; k++) if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
      if (BigInt(best) === y[i]) correct++;
    }
    return correct / shape[0];
  } finally {
    await s.release();
  }
}

async function run(model: string, argv: Record<string, unknown>): Promise<{ result: PruneFileResult; acc: number }> {
  const tag = Object.values(argv).join('-').replace(/[^a-z0-9.-]/gi, '_');
  const output = path.join(tmp, `${path.basename(model, '.onnx')}-${tag}.onnx`);
  const o = parsePruneFlags(path.join(FIX, model), { ...argv, output, json: true });
  const result = await pruneFile(o);
  return { result, acc: await accuracy(output) };
}

const rows: string[] = [];

beforeAll(() => {
  writeNpy(calibLabels, deriveCalibLabels(path.join(FIX, 'calib-x.npy')), [256]);
});

afterAll(() => {
  console.log(['| model | pattern | sparsity | criterion | accuracy | size raw | size gzip |', '|---|---|---|---|---|---|---|', ...rows].join('\n'));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const salArgs = { criterion: 'saliency', data: path.join(FIX, 'calib-x.npy'), labels: calibLabels, samples: '256', batchSize: '32' };

/** The CNN is pruned when the fixture generator has produced it (the manifest lists it). */
const MODELS = ['cnn', 'mlp'].filter((m) => (JSON.parse(fs.readFileSync(path.join(FIX, 'manifest.json'), 'utf8')) as { models: Record<string, unknown> }).models[m]).map((m) => `${m}.onnx`);

describe.each(MODELS)('%s', (model) => {
  let dense = 0;
  beforeAll(async () => {
    dense = await accuracy(path.join(FIX, model));
    rows.push(`| ${model} | dense | 0 | - | ${(dense * 100).toFixed(1)}% | ${fs.statSync(path.join(FIX, model)).size} | |`);
  });

  test.each([0.25, 0.5])('channel %p: saliency keeps more accuracy than L2 magnitude', async (s) => {
    const mag = await run(model, { sparsity: String(s), pattern: 'channel', criterion: 'magnitude' });
    const sal = await run(model, { sparsity: String(s), pattern: 'channel', ...salArgs });
    for (const [name, r] of [['magnitude', mag], ['saliency', sal]] as const) {
      rows.push(`| ${model} | channel | ${s} | ${name} | ${(r.acc * 100).toFixed(1)}% | ${r.result.size.after.bytes} | ${r.result.size.after.gzipBytes} |`);
    }
    expect(sal.result.size.after.bytes).toBeLessThan(0.9 * sal.result.size.before.bytes);
    expect(sal.result.report.flops!.after).toBeLessThan(sal.result.report.flops!.before);
    // Measured (see the report): at 50% saliency keeps more (CNN +2.9, MLP +18 points); at 25% both
    // criteria lose < 2.5 points on these fixtures and magnitude is slightly ahead on the CNN.
    if (s === 0.5) expect(sal.acc).toBeGreaterThan(mag.acc + 0.02);
    else expect(sal.acc).toBeGreaterThan(mag.acc - 0.025);
  });

  test.each([0.5, 0.8])('unstructured %p: both criteria, reported', async (s) => {
    const mag = await run(model, { sparsity: String(s), criterion: 'magnitude' });
    const sal = await run(model, { sparsity: String(s), ...salArgs });
    for (const [name, r] of [['magnitude', mag], ['saliency', sal]] as const) {
      rows.push(`| ${model} | unstructured | ${s} | ${name} | ${(r.acc * 100).toFixed(1)}% | ${r.result.size.after.bytes} | ${r.result.size.after.gzipBytes} |`);
      expect(r.result.report.globalSparsity).toBeCloseTo(s, 3);
      // Dense zeros: the raw size stays, the gzip size drops.
      expect(r.result.size.after.gzipBytes!).toBeLessThan(r.result.size.before.gzipBytes!);
    }
    // One-shot unstructured: magnitude is the strong baseline; element-wise Taylor saliency is reported, not gated.
    if (s === 0.5) expect(mag.acc).toBeGreaterThan(0.7);
  });
});
