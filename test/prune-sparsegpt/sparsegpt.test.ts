/**
 * `mc prune --method sparsegpt` (src/pipeline/sparsegpt.ts) on the fixture CNN,
 * one-shot, calibrated on fixtures/calib-x.npy and judged on the 1,000 eval
 * images by onnxruntime, with top-1 counted here: SparseGPT's top-1 is at least
 * one point above magnitude's at 90% unstructured (global scope) and at 2:4.
 * The zeros are counted here from the written weights, the 2:4 groups checked
 * along the reduction axis (input channels of a Conv at each kernel position,
 * K of a Gemm), and two runs give the same bytes.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/formats';
import { encodeTfjs } from '../../src/formats/tfjs';
import { TfjsRunner } from '../../src/runtime/tfjs-runner';
import { encodeOnnx } from '../../src/formats/onnx';
import { Graph, intAttr, Node, Tensor, Value, type Model } from '../../src/ir';
import { onnxModel, randomFloats } from '../quantize/helpers';
import { applyPlan, parseRecipe, type PlanReport } from '../../src/plan';
import type { PruneChanges } from '../../src/passes/prune';
import { parsePruneFlags } from '../../src/cli/commands/prune';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';
import { buildLm, fixturePerplexity, idsNpy, logitsOf, perplexity, sampleLabels } from '../quantize-backup/lm';

const FIX = path.join(ROOT, 'fixtures');
const CALIB = path.join(FIX, 'calib-x.npy');

/** float32 / int64 .npy, C order (the fixtures' form), read here rather than through mc's reader. */
function npy(file: string): { data: Float32Array | BigInt64Array; shape: number[] } {
  const b = fs.readFileSync(file);
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const body = b.subarray(10 + len);
  const copy = new Uint8Array(body).buffer;
  return { data: header.includes('<i8') ? new BigInt64Array(copy) : new Float32Array(copy), shape };
}

const evalX = npy(path.join(FIX, 'eval-x.npy'));
const evalY = npy(path.join(FIX, 'eval-y.npy')).data as BigInt64Array;

async function top1(m: Model): Promise<number> {
  const session = await ort.InferenceSession.create(encodeOnnx(m));
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', evalX.data as Float32Array, evalX.shape) });
  const logits = out[session.outputNames[0]].data as Float32Array;
  const classes = logits.length / evalY.length;
  let right = 0;
  for (let i = 0; i < evalY.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (BigInt(best) === evalY[i]) right++;
  }
  return (100 * right) / evalY.length;
}

async function pruned(prune: string): Promise<{ model: Model; report: PruneChanges; plan: PlanReport }> {
  const model = loadModel(path.join(FIX, 'cnn.onnx'));
  const plan = await applyPlan(model, parseRecipe(`steps:\n  - prune: ${prune}\n`, path.join(FIX, 'r.yaml'), FIX), { label: 'cnn.onnx' });
  const r = plan.results[0];
  if (r.kind !== 'prune') throw new Error('no prune result');
  return { model, report: r.report, plan };
}

function weight(m: Model, name: string): { w: Float32Array; shape: number[] } {
  const v = m.graph.initializers.find((x) => x.name === name)!;
  return { w: v.const!.toFloat32(), shape: [...v.const!.shape] };
}

function zerosOf(w: Float32Array): number {
  let z = 0;
  for (const x of w) if (x === 0) z++;
  return z;
}

/** Every group of 4 consecutive inputs along axis `axis` (the others fixed) holds at least 2 zeros. */
function twoOfFour(w: Float32Array, shape: number[], axis: number): boolean {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const k = shape[axis];
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < k; g += 4) {
      for (let r = 0; r < inner; r++) {
        let z = 0;
        for (let j = 0; j < 4; j++) if (w[(o * k + g + j) * inner + r] === 0) z++;
        if (z < 2) return false;
      }
    }
  }
  return true;
}

describe('SparseGPT against magnitude on the fixture CNN (one-shot, calib-x.npy; top-1 on the 1,000 eval images)', () => {
  test('90% unstructured, global scope: at least 1 point above magnitude; zeros counted; runs in onnxruntime', async () => {
    const sg = await pruned('{ sparsity: 0.9, scope: global, method: sparsegpt, data: calib-x.npy }');
    const mag = await pruned('{ sparsity: 0.9, scope: global }');
    const [a, b] = [await top1(sg.model), await top1(mag.model)];
    // eslint-disable-next-line no-console
    console.log(`90% global: sparsegpt ${a.toFixed(1)}%, magnitude ${b.toFixed(1)}% (float 90.0%); ${sg.report.reconstruction!.passes} passes over the data`);
    expect(a).toBeGreaterThanOrEqual(b + 1);
    let zeros = 0, params = 0;
    for (const l of sg.report.layers) {
      const { w } = weight(sg.model, l.weight);
      expect(l.zeros).toBe(zerosOf(w));
      zeros += l.zeros;
      params += w.length;
    }
    expect(zeros / params).toBeCloseTo(sg.report.globalSparsity, 12);
    // selectGlobalCount's exact count, less what the per-block thresholds round down (under 1 weight per block row)
    expect(Math.abs(sg.report.globalSparsity - 0.9)).toBeLessThan(0.005);
    // global scope: one ranking pass on the float model + one pass per depth (conv1 → conv2 → conv3 → fc1 → logits)
    expect(sg.report.reconstruction!.passes).toBe(6);
  });

  test('2:4 (conv1, one input channel, excluded as magnitude needs): at least 1 point above magnitude; the pattern holds; two runs give the same bytes', async () => {
    const recipe = '{ sparsity: 0.5, pattern: "n:m", method: sparsegpt, data: calib-x.npy }\n    exclude: ["conv1*"]';
    const sg = await pruned(recipe);
    const mag = await pruned('{ sparsity: 0.5, pattern: "n:m" }\n    exclude: ["conv1*"]');
    const [a, b] = [await top1(sg.model), await top1(mag.model)];
    // eslint-disable-next-line no-console
    console.log(`2:4: sparsegpt ${a.toFixed(1)}%, magnitude ${b.toFixed(1)}% (float 90.0%)`);
    expect(a).toBeGreaterThanOrEqual(b + 1);
    for (const [name, axis] of [['conv2.weight', 1], ['conv3.weight', 1], ['fc1.weight', 1], ['logits.weight', 1]] as const) {
      const { w, shape } = weight(sg.model, name);
      expect([name, twoOfFour(w, shape, axis)]).toEqual([name, true]);
    }
    expect(sg.report.skipped.map((s) => s.layer)).toEqual(['conv1/Conv']);
    const again = await pruned(recipe);
    expect(Buffer.from(encodeOnnx(again.model)).equals(Buffer.from(encodeOnnx(sg.model)))).toBe(true);
  });
});

describe('SparseGPT against magnitude on the char LM fixture (calibrated on lm-calib-x.npy; perplexity on lm-eval-x/y.npy computed here)', () => {
  test('50% unstructured: lower perplexity than magnitude', async () => {
    const run = async (prune: string): Promise<Model> => {
      const m = loadModel(path.join(FIX, 'char-lm.onnx'));
      await applyPlan(m, parseRecipe(`steps:\n  - prune: ${prune}\n`, path.join(FIX, 'r.yaml'), FIX), { label: 'char-lm.onnx' });
      return m;
    };
    const sg = await run('{ sparsity: 0.5, method: sparsegpt, data: lm-calib-x.npy }');
    const mag = await run('{ sparsity: 0.5 }');
    const [ps, pm] = [await fixturePerplexity(sg, ROOT), await fixturePerplexity(mag, ROOT)];
    // eslint-disable-next-line no-console
    console.log(`char LM 50%: perplexity sparsegpt ${ps.toFixed(3)}, magnitude ${pm.toFixed(3)} (float 3.965)`);
    expect(ps).toBeLessThan(pm);
  });
});

describe('SparseGPT against magnitude on a language model (Gather + MatMuls, built in the test)', () => {
  test('50% unstructured: lower perplexity than magnitude (labels drawn from the float model; calibration windows of another seed)', async () => {
    const dir = tempDir('mc-sparsegpt-lm-');
    fs.writeFileSync(path.join(dir, 'calib.npy'), idsNpy(5, 64));
    const run = async (prune: string): Promise<Model> => {
      const m = buildLm();
      await applyPlan(m, parseRecipe(`steps:\n  - prune: ${prune}\n`, path.join(dir, 'r.yaml'), dir), { label: 'lm' });
      return m;
    };
    const floatLogits = await logitsOf(buildLm());
    const labels = sampleLabels(floatLogits);
    const sg = await run('{ sparsity: 0.5, method: sparsegpt, data: calib.npy }');
    const mag = await run('{ sparsity: 0.5 }');
    const [pf, ps, pm] = [perplexity(floatLogits, labels), perplexity(await logitsOf(sg), labels), perplexity(await logitsOf(mag), labels)];
    // eslint-disable-next-line no-console
    console.log(`50%: perplexity float ${pf.toFixed(4)}, sparsegpt ${ps.toFixed(4)}, magnitude ${pm.toFixed(4)}`);
    expect(ps).toBeLessThan(pm);
    for (const name of ['fc1.weight', 'fc2.weight', 'lm_head.weight']) {
      const { w } = weight(sg, name);
      expect([name, zerosOf(w) / w.length]).toEqual([name, expect.closeTo(0.5, 2)]);
    }
  });
});

describe('a recipe: SparseGPT prune step, then an int8 quantize step', () => {
  test('the quantize step takes the kept (updated) weights and every pruned zero is an exact zero level; the model runs in onnxruntime', async () => {
    const model = loadModel(path.join(FIX, 'cnn.onnx'));
    const plan = await applyPlan(model, parseRecipe('steps:\n  - prune: { sparsity: 0.5, method: sparsegpt, data: calib-x.npy }\n  - quantize: { bits: 8, output-check: false }\n', path.join(FIX, 'r.yaml'), FIX), { label: 'cnn.onnx' });
    const pr = plan.results[0];
    if (pr.kind !== 'prune') throw new Error('no prune result');
    // the same prune step alone (deterministic): where its zeros are
    const alone = await pruned('{ sparsity: 0.5, method: sparsegpt, data: calib-x.npy }');
    for (const l of pr.report.layers) {
      const conv = model.graph.nodes.find((n) => n.name === l.layer)!;
      const dq = conv.inputs[1]!.producer!;
      expect(dq.opType).toBe('DequantizeLinear');
      const levels = dq.inputs[0]!.const!.typed();
      const { w } = weight(alone.model, l.weight);
      expect(levels.length).toBe(w.length);
      // symmetric int8: level 0 is the value 0, so every pruned zero is a zero level
      let kept = 0;
      for (let i = 0; i < w.length; i++) if (w[i] === 0 && levels[i] !== 0) kept++;
      expect([l.layer, kept]).toEqual([l.layer, 0]);
    }
    const acc = await top1(model);
    // eslint-disable-next-line no-console
    console.log(`SparseGPT 50% + int8: top-1 ${acc.toFixed(1)}%`);
    expect(acc).toBeGreaterThan(10);
  });
});

describe('mc prune --method sparsegpt through the binary', () => {
  test('exit 0, the report names the method and the passes, and the file it writes is the library\'s model (same top-1, same weights)', async () => {
    const dir = tempDir('mc-sparsegpt-cli-');
    const out = path.join(dir, 'p.onnx');
    const r = runMc(['prune', path.join(FIX, 'cnn.onnx'), '--sparsity', '0.5', '--method', 'sparsegpt', '--data', CALIB, '-o', out]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('sparsegpt, unstructured, layer scope: ');
    expect(r.stdout).toMatch(/SparseGPT: 5 pass\(es\) over 256 calibration sample\(s\)/);
    const lib = await pruned('{ sparsity: 0.5, method: sparsegpt, data: calib-x.npy }');
    const cli = loadModel(out);
    for (const name of ['conv1.weight', 'conv2.weight', 'conv3.weight', 'fc1.weight', 'logits.weight']) {
      const [a, b] = [weight(cli, name).w, weight(lib.model, name).w];
      expect([name, Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))]).toEqual([name, true]);
    }
    expect(await top1(cli)).toBe(await top1(lib.model));
  });
});

describe('an opset-9 model (Gemm needs its C input before opset 11)', () => {
  test('two Gemm layers prune to 50% and the result runs in onnxruntime', async () => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: ['N', 16] });
    g.inputs.push(x);
    const w = (name: string, shape: number[], seed: number): Value => g.addInitializer(name, Tensor.fromArray('float32', shape, randomFloats(shape.reduce((a, b) => a * b, 1), seed), name));
    const [h, r, y] = [new Value('h'), new Value('r'), new Value('y', { dtype: 'float32', shape: ['N', 4] })];
    g.addNode(new Node({ opType: 'Gemm', name: 'fc1', inputs: [x, w('fc1.weight', [8, 16], 3), w('fc1.bias', [8], 4)], outputs: [h], attributes: [intAttr('transB', 1)] }));
    g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [h], outputs: [r] }));
    g.addNode(new Node({ opType: 'Gemm', name: 'fc2', inputs: [r, w('fc2.weight', [4, 8], 5), w('fc2.bias', [4], 6)], outputs: [y], attributes: [intAttr('transB', 1)] }));
    g.outputs.push(y);
    const model = onnxModel(g, 9);
    const dir = tempDir('mc-sparsegpt-opset9-');
    const rows = 64;
    let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, 16), }`;
    header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
    const pre = Buffer.alloc(10);
    pre.write('\x93NUMPY', 0, 'latin1');
    pre[6] = 1;
    pre.writeUInt16LE(header.length, 8);
    fs.writeFileSync(path.join(dir, 'x.npy'), Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(randomFloats(rows * 16, 9).buffer)]));
    const plan = await applyPlan(model, parseRecipe('steps:\n  - prune: { sparsity: 0.5, method: sparsegpt, data: x.npy }\n', path.join(dir, 'r.yaml'), dir), { label: 'opset9' });
    const pr = plan.results[0];
    if (pr.kind !== 'prune') throw new Error('no prune result');
    expect(pr.report.layers.map((l) => [l.layer, l.zeros])).toEqual([['fc1', zerosOf(weight(model, 'fc1.weight').w)], ['fc2', zerosOf(weight(model, 'fc2.weight').w)]]);
    expect(pr.report.globalSparsity).toBeCloseTo(0.5, 1);
    const session = await ort.InferenceSession.create(encodeOnnx(model));
    const out = await session.run({ x: new ort.Tensor('float32', randomFloats(2 * 16, 11), [2, 16]) });
    expect(out.y.dims).toEqual([2, 4]);
  });
});

describe('flags and errors', () => {
  test('--method and --criterion are one setting; sparsegpt needs --data; channel is refused', async () => {
    expect(parsePruneFlags('m.onnx', { sparsity: '0.5', method: 'sparsegpt', data: 'x.npy' }).prune.criterion).toBe('sparsegpt');
    expect(parsePruneFlags('m.onnx', { sparsity: '0.5', criterion: 'sparsegpt', data: 'x.npy' }).prune.criterion).toBe('sparsegpt');
    expect(parsePruneFlags('m.onnx', { sparsity: '0.5' }).prune.criterion).toBe('magnitude');
    expect(() => parsePruneFlags('m.onnx', { sparsity: '0.5', method: 'sparsegpt', criterion: 'magnitude', data: 'x.npy' })).toThrow('--method sparsegpt and --criterion magnitude disagree');
    expect(() => parsePruneFlags('m.onnx', { sparsity: '0.5', method: 'sparsegpt' })).toThrow('--method sparsegpt needs --data');
    expect(() => parseRecipe('steps:\n  - prune: { sparsity: 0.5, method: sparsegpt }\n', 'r.yaml', '.')).toThrow(/method sparsegpt needs data/);
    // the canonical recipe writes criterion
    const plan = parseRecipe('steps:\n  - prune: { sparsity: 0.5, method: sparsegpt, data: calib-x.npy }\n', path.join(FIX, 'r.yaml'), FIX);
    expect(plan.steps[0].kind === 'prune' && plan.steps[0].options.criterion).toBe('sparsegpt');
    await expect(pruned('{ sparsity: 0.5, pattern: channel, method: sparsegpt, data: calib-x.npy }')).rejects.toThrow(/not channels/);
    expect(fs.existsSync(CALIB)).toBe(true);
  });
});

/** Top-1 of a tfjs model on the 1,000 eval images, run by stock tfjs on the bytes mc would write (NCHW [N,1,28,28] = NHWC [N,28,28,1]). */
async function tfjsTop1(m: Model): Promise<number> {
  const r = await TfjsRunner.fromArtifacts(encodeTfjs(m));
  try {
    const shape: number[] = r.inputs[0].shape!.map((d, i) => (i === 0 ? evalX.shape[0] : Number(d)));
    const out = await r.run(new Map([[r.inputs[0].name, { dtype: 'float32', shape, data: evalX.data as Float32Array }]]));
    const logits = [...out.values()][0].data as Float32Array;
    const classes = logits.length / evalY.length;
    let right = 0;
    for (let i = 0; i < evalY.length; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      if (BigInt(best) === evalY[i]) right++;
    }
    return (100 * right) / evalY.length;
  } finally {
    await r.dispose();
  }
}

describe('SparseGPT on tfjs (layer inputs from stock tfjs; top-1 by stock tfjs on the 1,000 eval images)', () => {
  test.each(['cnn-graph', 'cnn-layers'])('%s: 90%% unstructured global is at least 1 point above magnitude; zeros counted', async (fixture) => {
    const run = async (prune: string): Promise<{ model: Model; report: PruneChanges }> => {
      const model = loadModel(path.join(FIX, fixture));
      const plan = await applyPlan(model, parseRecipe(`steps:\n  - prune: ${prune}\n`, path.join(FIX, 'r.yaml'), FIX), { label: fixture });
      const r = plan.results[0];
      if (r.kind !== 'prune') throw new Error('no prune result');
      return { model, report: r.report };
    };
    const sg = await run('{ sparsity: 0.9, scope: global, method: sparsegpt, data: calib-x.npy }');
    const mag = await run('{ sparsity: 0.9, scope: global }');
    const [a, b] = [await tfjsTop1(sg.model), await tfjsTop1(mag.model)];
    // eslint-disable-next-line no-console
    console.log(`${fixture} 90% global: sparsegpt ${a.toFixed(1)}%, magnitude ${b.toFixed(1)}% (float 90.0%); ${sg.report.reconstruction!.passes} passes over the data; skipped: ${JSON.stringify(sg.report.skipped)}`);
    expect(a).toBeGreaterThanOrEqual(b + 1);
    expect(sg.report.layers.length).toBe(5);
    for (const l of sg.report.layers) expect(l.zeros).toBe(zerosOf(weight(sg.model, l.weight).w));
    expect(Math.abs(sg.report.globalSparsity - 0.9)).toBeLessThan(0.005);
  });
});
