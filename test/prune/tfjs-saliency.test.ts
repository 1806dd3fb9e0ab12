/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
/**
 * Taylor-saliency pruning of the tfjs fixtures, with gradients from stock tfjs
 * (runtime/tfjs-grad.ts). The cross-checks: the same trained weights give the
 * same scores as the ONNX path (mc's differentiable executor on mlp.onnx /
 * cnn.onnx, compared element by element through the layout mapping), and the
 * graph-model gives the layers-model's scores. Pruned models are loaded and
 * evaluated with stock tfjs on the eval set.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parsePruneFlags } from '../../src/cli/commands/prune';
import { pruneFile, type PruneFileResult } from '../../src/pipeline/prune';
import { openDataset, openLabels } from '../../src/data';
import { UnsupportedError } from '../../src/errors';
import { loadModel } from '../../src/formats';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import type { Model } from '../../src/ir';
import { findTargets, pruneCount, saliencyScores } from '../../src/passes/prune';
import { useGradientBackend } from '../../src/runtime/executor';
import { readNpyF32 } from './helpers';
import { ALPHA, pBetter } from '../helpers/paired';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-tfjs-sal-'));
const calibY = path.join(FIX, 'calib-y.npy');

beforeAll(async () => {
  await useGradientBackend(tf, 'wasm');
});

interface Arch { type: string; filters?: number; units?: number }
const MANIFEST = JSON.parse(fs.readFileSync(path.join(FIX, 'manifest.json'), 'utf8')) as {
  models: Record<string, { architecture: Arch[]; formats: Record<string, { params: number }> }>;
};

/**
 * Whether the graph-model has BatchNorm folded into its conv weights (fewer
 * parameters than the layers-model). Element saliency w * dL/dw is invariant under
 * that per-channel rescaling (w -> k w, dL/dw -> dL/dw / k), so the scores agree
 * only up to float32 rounding, not bit for bit: measured up to 2.9e-3 of a layer's largest
 * score, and 4 of 93,088 mask entries (2 near-tied pairs) swapped.
 */
const graphFoldsBn = (m: string): boolean => MANIFEST.models[m].formats['tfjs-graph'].params !== MANIFEST.models[m].formats['tfjs-layers'].params;

/** Prunable layers (conv + dense) of a fixture model, from the manifest. */
const prunableLayers = (m: string): number => MANIFEST.models[m].architecture.filter((a) => a.type === 'conv' || a.type === 'dense').length;

/**
 * The [H, W, C] that the first Dense after Flatten reads (28x28 input, 'same' 3x3
 * convs, 2x2/2 pools that floor), from the manifest; none for a model without convs.
 */
function flattenShapes(m: string): Record<string, [number, number, number]> {
  const arch = MANIFEST.models[m].architecture;
  if (!arch.some((a) => a.type === 'conv')) return {};
  let size = 28;
  let channels = 1;
  for (const a of arch) {
    if (a.type === 'pool') size = Math.floor(size / 2);
    if (a.type === 'conv') channels = a.filters!;
    if (a.type === 'flatten') break;
  }
  return { fc1: [size, size, channels] };
}

/** Weights in the ONNX fixture's prunable layers (the same weights as the tfjs formats), optionally leaving some out. */
function prunableWeights(m: string, exclude: readonly string[] = []): number {
  return findTargets(loadModel(path.join(FIX, `${m}.onnx`)), exclude).targets.reduce((s, t) => s + t.value.const!.size, 0);
}

const rows: string[] = [];
afterAll(() => {
  console.log(['| model | criterion | sparsity | accuracy (stock tfjs) |', '|---|---|---|---|', ...rows].join('\n'));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Scores of every prunable weight, flattened in IR order, keyed by layer name (the last '/'-part before kernel/weight). */
async function scores(file: string, data: string, labels: string | undefined): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const model: Model = loadModel(path.join(FIX, file));
  const { targets } = findTargets(model, []);
  const inputs = model.graph.inputs.filter((v) => !v.const).map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] }));
  const s = await saliencyScores(model, targets, {
    tf, data: openDataset(path.join(FIX, data), { inputs }), labels: labels ? openLabels(labels) : undefined, samples: 256, batchSize: 32, channel: false,
  });
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const t of targets) {
    out.set(layerOf(t.value.name), { data: s.get(t.value)!.element!, shape: [...t.value.const!.shape] });
  }
  return out;
}

/**
 * Index in the ONNX weight of each element of the tfjs weight (same layer):
 * Dense [in, out] ↔ Gemm(transB) [out, in]; Conv2D HWIO ↔ Conv OIHW; and the
 * first Dense after Flatten reads NHWC-flattened rows where ONNX reads NCHW
 * (fixtures/README.md), given the [H, W, C] that was flattened.
 */
function onnxIndex(tfShape: number[], flattened?: [number, number, number]): (k: number) => number {
  if (tfShape.length === 4) {
    const [H, W, I, O] = tfShape;
    return (k) => {
      const o = k % O, i = Math.floor(k / O) % I, w = Math.floor(k / (O * I)) % W, h = Math.floor(k / (O * I * W));
      return ((o * I + i) * H + h) * W + w;
    };
  }
  const [In, Out] = tfShape;
  return (k) => {
    const o = k % Out;
    let i = Math.floor(k / Out);
    if (flattened) {
      const [, Wd, C] = flattened;
      const c = i % C, w = Math.floor(i / C) % Wd, h = Math.floor(i / (C * Wd));
      i = (c * flattened[0] + h) * Wd + w;
    }
    return o * In + i;
  };
}

/** max |a - b| over max |a|, per layer, after mapping tfjs → ONNX layout. */
function worstRelative(tfS: Map<string, { data: Float32Array; shape: number[] }>, onnxS: Map<string, { data: Float32Array; shape: number[] }>, flatten: Record<string, [number, number, number]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [layer, t] of tfS) {
    const o = onnxS.get(layer)!;
    expect(o.data.length).toBe(t.data.length);
    const map = onnxIndex(t.shape, flatten[layer]);
    let worst = 0, scale = 0;
    for (let k = 0; k < t.data.length; k++) {
      worst = Math.max(worst, Math.abs(t.data[k] - o.data[map(k)]));
      scale = Math.max(scale, Math.abs(t.data[k]));
    }
    expect(scale).toBeGreaterThan(0);
    out[layer] = worst / scale;
  }
  return out;
}

describe('tfjs saliency scores equal the ONNX path on the same trained weights', () => {
  test.each(['mlp', 'cnn'])('%s: cross-entropy scores, layers-model vs ONNX executor', async (m) => {
    const flatten = flattenShapes(m);
    const t = await scores(`${m}-layers`, 'calib-x.npy', calibY);
    const o = await scores(`${m}.onnx`, 'calib-x.npy', calibY);
    expect([...t.keys()].sort()).toEqual([...o.keys()].sort());
    const rel = worstRelative(t, o, flatten);
    console.log(`${m}: worst |tfjs - onnx| / max score per layer`, rel);
    for (const r of Object.values(rel)) expect(r).toBeLessThan(1e-4);
  });

  test('mlp: Fisher scores (no labels: labels sampled from the model, same seed) agree too', async () => {
    const t = await scores('mlp-layers', 'calib-x.npy', undefined);
    const o = await scores('mlp.onnx', 'calib-x.npy', undefined);
    for (const r of Object.values(worstRelative(t, o, {}))) expect(r).toBeLessThan(1e-4);
  });

  test.each(['mlp', 'cnn'])('%s: graph-model scores equal layers-model scores', async (m) => {
    const g = await scores(`${m}-graph`, 'calib-x.npy', calibY);
    const l = await scores(`${m}-layers`, 'calib-x.npy', calibY);
    for (const [layer, s] of l) {
      const gs = g.get(layer)!;
      expect(gs.shape).toEqual(s.shape);
      let worst = 0, scale = 0;
      s.data.forEach((v, k) => {
        worst = Math.max(worst, Math.abs(v - gs.data[k]));
        scale = Math.max(scale, Math.abs(v));
      });
      expect(worst).toBeLessThan((graphFoldsBn(m) ? 1e-2 : 1e-4) * scale);
    }
  });
});

const layerOf = (name: string): string => /(conv\d|fc\d|logits)/.exec(name)![1];

/**
 * Positions zeroed in one model's prunable weights but not in the other's, matched by
 * layer; `index` maps an element of `a`'s weight to the index of the same element in `b`'s.
 */
function maskDifferences(a: Model, b: Model, index: (layer: string, shape: number[]) => (k: number) => number): { compared: number; different: number } {
  const bW = new Map(findTargets(b, []).targets.map((t) => [layerOf(t.value.name), t.value.const!.toFloat32()]));
  let compared = 0, different = 0;
  for (const t of findTargets(a, []).targets) {
    const w = t.value.const!.toFloat32();
    const o = bW.get(layerOf(t.value.name))!;
    const map = index(layerOf(t.value.name), [...t.value.const!.shape]);
    for (let k = 0; k < w.length; k++) {
      compared++;
      if ((w[k] === 0) !== (o[map(k)] === 0)) different++;
    }
  }
  return { compared, different };
}

test.each(['cnn-layers', 'cnn-graph', 'cnn.onnx'])('%s: saliency scoring leaves no tensors behind (with and without labels)', async (file) => {
  const model = loadModel(path.join(FIX, file));
  const { targets } = findTargets(model, []);
  const inputs = model.graph.inputs.map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] }));
  const before = tf.memory().numTensors;
  for (const labels of [openLabels(calibY), undefined]) {
    await saliencyScores(model, targets, { tf, data: openDataset(path.join(FIX, 'calib-x.npy'), { inputs }), labels, samples: 64, batchSize: 16, channel: false });
  }
  expect(tf.memory().numTensors).toBe(before);
});

test('every layer excluded: saliency pruning of a tfjs model is refused, and with --allow-partial changes nothing and writes a loadable model', async () => {
  await expect(prune('mlp-layers', { sparsity: '0.5', ...salArgs, labels: calibY, exclude: ['*'] })).rejects.toThrow(/pruned no layer \(3 skipped: fc1: excluded/);
  const r = await prune('mlp-layers', { sparsity: '0.5', ...salArgs, labels: calibY, exclude: ['*'], allowPartial: true });
  expect(r.report.layers).toHaveLength(0);
  expect(r.report.skipped.map((s) => s.reason)).toEqual(['excluded', 'excluded', 'excluded']);
  expect(await tfjsAccuracy(r.output)).toBeCloseTo(await tfjsAccuracy(path.join(FIX, 'mlp-layers')), 6);
});

/** Eval-set accuracy of a tfjs model folder, run by stock tfjs. */
async function tfjsAccuracy(dir: string): Promise<number> {
  const h = await tfjsHits(dir);
  return h.reduce((t, c) => t + c, 0) / h.length;
}

/** Which eval images a tfjs model folder gets right, run by stock tfjs. */
async function tfjsHits(dir: string): Promise<Uint8Array> {
  const { data, shape } = readNpyF32(path.join(FIX, 'eval-x.npy'));
  const yb = fs.readFileSync(path.join(FIX, 'eval-y.npy'));
  const y = new BigInt64Array(yb.buffer.slice(yb.byteOffset + 10 + yb.readUInt16LE(8), yb.byteOffset + yb.byteLength));
  const graph = (JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { format?: string }).format === 'graph-model';
  const x = tf.tensor(data, [shape[0], 28, 28, 1]); // [N,1,28,28] as NHWC: the same bytes with C = 1
  let logits: tf.Tensor;
  if (graph) {
    const gm = await tf.loadGraphModel(tfjsFileHandler(dir));
    logits = gm.execute(x) as tf.Tensor;
    gm.dispose();
  } else {
    const lm = await tf.loadLayersModel(tfjsFileHandler(dir));
    logits = lm.predict(x) as tf.Tensor;
    lm.dispose();
  }
  const pred = tf.argMax(logits, -1).dataSync();
  tf.dispose([x, logits]);
  return Uint8Array.from(pred, (p, i) => (BigInt(p) === y[i] ? 1 : 0));
}

/** Zeros in each prunable kernel of a tfjs model folder, as stock tfjs loads it. */
async function kernelZeros(dir: string): Promise<Map<string, { zeros: number; size: number }>> {
  const model = loadModel(dir);
  const names = new Set(findTargets(model, []).targets.map((t) => t.value.name));
  const out = new Map<string, { zeros: number; size: number }>();
  const lm = await tf.loadLayersModel(tfjsFileHandler(dir));
  for (const w of lm.weights) {
    if (!names.has(w.originalName)) continue;
    const d = w.read().dataSync();
    let zeros = 0;
    for (const v of d) if (v === 0) zeros++;
    out.set(w.originalName, { zeros, size: d.length });
  }
  lm.dispose();
  return out;
}

let runs = 0;
async function prune(model: string, argv: Record<string, unknown>): Promise<PruneFileResult> {
  const output = path.join(tmp, `run${++runs}${model.endsWith('.onnx') ? '.onnx' : ''}`);
  return pruneFile(parsePruneFlags(path.join(FIX, model), { ...argv, output, json: true }));
}

const salArgs = { criterion: 'saliency', data: path.join(FIX, 'calib-x.npy'), samples: '256', batchSize: '32' };

describe.each(['mlp', 'cnn'])('%s-layers: saliency pruning', (m) => {
  const model = `${m}-layers`;
  let dense = 0;
  let denseHits: Uint8Array;
  beforeAll(async () => {
    denseHits = await tfjsHits(path.join(FIX, model));
    dense = denseHits.reduce((t, c) => t + c, 0) / denseHits.length;
    rows.push(`| ${model} | dense | 0 | ${(dense * 100).toFixed(1)}% |`);
  });

  test('unstructured 50%: exact sparsity in stock tfjs, the same mask as the ONNX path', async () => {
    const sal = await prune(model, { sparsity: '0.5', ...salArgs, labels: calibY });
    const mag = await prune(model, { sparsity: '0.5', criterion: 'magnitude' });
    expect(sal.saliencyLoss).toBe('cross-entropy');
    const zeros = await kernelZeros(sal.output);
    expect(zeros.size).toBe(prunableLayers(m));
    for (const [, z] of zeros) expect(z.zeros).toBe(pruneCount(z.size, 0.5));
    expect(sal.report.globalSparsity).toBeCloseTo(0.5, 4);
    // The ONNX path on the same weights (the same data file, same labels) must remove the same weights.
    const onnx = await prune(`${m}.onnx`, { sparsity: '0.5', ...salArgs, labels: calibY });
    const flatten = flattenShapes(m);
    const differ = maskDifferences(loadModel(sal.output), loadModel(onnx.output), (layer, shape) => onnxIndex(shape, flatten[layer]));
    expect(differ.compared).toBe(prunableWeights(m));
    expect(differ.different).toBe(0);
    const hitsSal = await tfjsHits(sal.output);
    const hitsMag = await tfjsHits(mag.output);
    const [accSal, accMag] = [hitsSal, hitsMag].map((h) => h.reduce((t, c) => t + c, 0) / h.length);
    rows.push(`| ${model} | saliency | 0.5 | ${(accSal * 100).toFixed(1)}% |`, `| ${model} | magnitude | 0.5 | ${(accMag * 100).toFixed(1)}% |`);
    // Measured (wasm): mlp 85.9% dense → 79.0% saliency (75.0% magnitude); cnn (with BatchNorm) 90.0% → 76.8%
    // saliency (71.7% magnitude). The ONNX path gives the same mask, so the numbers are the criterion's.
    // Stated expectation, instead of a floor fitted under those numbers: a criterion that knows the loss is not
    // significantly worse than one that does not, on the same images (one-sided exact McNemar at ALPHA).
    const p = { magBetter: pBetter(hitsMag, hitsSal), salBetter: pBetter(hitsSal, hitsMag) };
    console.log(`${model} unstructured 0.5: saliency ${(accSal * 100).toFixed(1)}%, magnitude ${(accMag * 100).toFixed(1)}%, one-sided McNemar p ${JSON.stringify(p)}`);
    expect(p.magBetter).toBeGreaterThanOrEqual(ALPHA);
    // Removing weights without fine-tuning does not make the classifier better beyond chance.
    expect(pBetter(hitsSal, denseHits)).toBeGreaterThanOrEqual(ALPHA);
  });

  test('Fisher (no labels) and 2:4 run on the layers-model too', async () => {
    // cnn conv1 reduces over 1 input channel, which 2:4 cannot split.
    const r = await prune(model, { sparsity: '0.5', pattern: 'n:m', nM: '2:4', exclude: m === 'cnn' ? ['conv1'] : [], ...salArgs });
    expect(r.saliencyLoss).toBe('fisher');
    const lm = await tf.loadLayersModel(tfjsFileHandler(r.output));
    const targets = new Set(findTargets(loadModel(r.output), ['conv1']).targets.map((t) => t.value.name));
    let groups = 0;
    for (const w of lm.weights) {
      if (!targets.has(w.originalName)) continue;
      // Keras kernels reduce along axis -2: every 4 consecutive inputs of one output hold >= 2 zeros.
      const [K, N] = [w.shape[w.shape.length - 2]!, w.shape[w.shape.length - 1]!];
      const outer = w.shape.slice(0, -2).reduce((p: number, d) => p * d!, 1);
      const d = w.read().dataSync();
      for (let s = 0; s < outer; s++) {
        for (let g = 0; g < K; g += 4) {
          for (let n = 0; n < N; n++) {
            let z = 0;
            for (let j = 0; j < 4; j++) if (d[(s * K + g + j) * N + n] === 0) z++;
            expect(z).toBeGreaterThanOrEqual(2);
            groups++;
          }
        }
      }
    }
    lm.dispose();
    expect(groups).toBe(prunableWeights(m, m === 'cnn' ? ['conv1*'] : []) / 4);
    expect(await tfjsAccuracy(r.output)).toBeGreaterThan(0.5);
  });
});

test.each(['mlp', 'cnn'])('%s-graph: saliency pruning removes what the layers-model path removes; stock tfjs runs it', async (m) => {
  const graph = await prune(`${m}-graph`, { sparsity: '0.5', ...salArgs, labels: calibY });
  const layers = await prune(`${m}-layers`, { sparsity: '0.5', ...salArgs, labels: calibY });
  expect(graph.report.layers).toHaveLength(prunableLayers(m));
  for (const l of graph.report.layers) expect(l.zeros).toBe(pruneCount(l.params, 0.5));
  const differ = maskDifferences(loadModel(graph.output), loadModel(layers.output), () => (k) => k);
  expect(differ.compared).toBe(prunableWeights(m));
  expect(differ.different).toBeLessThanOrEqual(graphFoldsBn(m) ? 1e-4 * differ.compared : 0);
  const acc = await tfjsAccuracy(graph.output);
  rows.push(`| ${m}-graph | saliency | 0.5 | ${(acc * 100).toFixed(1)}% |`);
  expect(Math.abs(acc - await tfjsAccuracy(layers.output))).toBeLessThanOrEqual(graphFoldsBn(m) ? 0.003 : 0.0005);
});

test('channel pattern on a tfjs model is refused with a clear UnsupportedError', async () => {
  await expect(prune('mlp-layers', { sparsity: '0.5', pattern: 'channel', ...salArgs, labels: calibY })).rejects.toThrow(UnsupportedError);
  await expect(prune('mlp-layers', { sparsity: '0.5', pattern: 'channel', ...salArgs, labels: calibY })).rejects.toThrow(/ONNX models only/);
});
