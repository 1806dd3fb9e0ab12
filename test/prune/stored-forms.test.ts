/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Pruning keeps the form a weight is stored in (src/passes/prune/zero.ts), so a pruned file is
 * never larger than its input: real models ship float16 (ISNet's ONNX file, every
 * vladmandic/human tfjs model's manifest) and tfjs uint8/uint16 affine weights, and before this
 * test `mc prune` wrote them back as float32 (human's faceres went from 6.7 to 13.3 MiB).
 * The reference in each case: the test's own magnitude selection applied to the stored codes,
 * run by the stock runtime (stock tfjs, onnxruntime).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { getTfjsQuantization, loadTfjs, saveTfjs, setTfjsQuantization, tfjsFiles } from '../../src/formats/tfjs';
import { floatToHalf, Graph, Node, Tensor, Value, type Model } from '../../src/ir';
import { runPass } from '../../src/passes/pass';
import { quantizePass, resolveQuantizeOptions } from '../../src/passes';
import { PRUNE_DEFAULTS, prunePass, type PruneChanges, type PruneOptions } from '../../src/passes/prune';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { pruneShortfall } from '../../src/pipeline/prune';
import { runOnce } from '../helpers/onnx-ort';
import { onnxModel } from '../quantize/helpers';
import { constNode, f32, node, placeholder, quantizeAffine, readJson, runGraphModel, seeded, tempDir, toHalfBytes, writeGraphModel } from '../tfjs/helpers';

const CTX = { toolVersion: 'test' };
const prune = (m: Model, o: Partial<PruneOptions> = {}): PruneChanges => runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity: 0.5, ...o }), m, CTX).changes;

/** Indices of the `n / 2` smallest |w| (the test's own layer-scope magnitude selection). */
function smallerHalf(w: Float32Array): Set<number> {
  const order = Array.from(w.keys()).sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]));
  return new Set(order.slice(0, w.length / 2));
}

/** Stored element codes (1 or 2 bytes each, little-endian). */
function codes(bytes: Uint8Array, width: number): number[] {
  return Array.from({ length: bytes.length / width }, (_, i) => (width === 2 ? bytes[2 * i] | (bytes[2 * i + 1] << 8) : bytes[i]));
}

beforeAll(async () => {
  await initTfjs();
});

describe('tfjs stored forms (stock tfjs runs the output)', () => {
  /** x[1,8] → MatMul w16[8,8] (float16) → MatMul wq[8,4] (uint8, zero representable) → MatMul wp[4,4] (uint8, all positive: no zero code). */
  async function model(dir: string): Promise<{ w16: Float32Array; wq: Float32Array; wp: Float32Array }> {
    const w16 = seeded(64, 51);
    const wq = seeded(32, 52);
    const wp = Float32Array.from(seeded(16, 53), (v) => 0.5 + Math.abs(v));
    const weights = { w16: tf.tensor2d(w16, [8, 8]), wq: tf.tensor2d(wq, [8, 4]), wp: tf.tensor2d(wp, [4, 4]) };
    await writeGraphModel(dir, [
      placeholder('x', [-1, 8]), constNode('w16', weights.w16), constNode('wq', weights.wq), constNode('wp', weights.wp),
      node('a', 'MatMul', ['x', 'w16'], { T: f32 }), node('b', 'MatMul', ['a', 'wq'], { T: f32 }), node('y', 'MatMul', ['b', 'wp'], { T: f32 }),
    ], weights);
    const m = loadTfjs(dir);
    const byName = new Map(m.graph.initializers.map((v) => [v.name, v.const!]));
    setTfjsQuantization(byName.get('w16')!, { dtype: 'float16' }, toHalfBytes(w16));
    const q = quantizeAffine(wq, 'uint8');
    setTfjsQuantization(byName.get('wq')!, { dtype: 'uint8', min: q.min, scale: q.scale }, q.bytes);
    const p = { min: 0.5, scale: 2 / 255 }; // codes 0..255 decode to 0.5..2.5: none is 0
    setTfjsQuantization(byName.get('wp')!, { dtype: 'uint8', ...p }, Uint8Array.from(wp, (v) => Math.min(255, Math.round((v - p.min) / p.scale))));
    saveTfjs(m, dir);
    const back = new Map(loadTfjs(dir).graph.initializers.map((v) => [v.name, Float32Array.from(v.const!.toFloat32())]));
    return { w16: back.get('w16')!, wq: back.get('wq')!, wp: back.get('wp')! };
  }

  test('float16 and uint8 with a zero code keep their storage and codes; uint8 without one widens, and says why', async () => {
    const dir = tempDir('prune-stored');
    const dense = await model(dir);
    const m = loadTfjs(dir);
    const before = new Map(m.graph.initializers.map((v) => [v.name, getTfjsQuantization(v.const!)!]));
    const rep = prune(m);
    const out = tempDir('prune-stored-out');
    saveTfjs(m, out);

    const entries = new Map((readJson(path.join(out, 'model.json')) as { weightsManifest: { weights: { name: string; dtype: string; quantization?: unknown }[] }[] })
      .weightsManifest[0].weights.map((w) => [w.name, w]));
    const after = new Map(loadTfjs(out).graph.initializers.map((v) => [v.name, v.const!]));
    const layer = (w: string) => rep.layers.find((l) => l.weight === w)!;

    // float16: same manifest quantization, the smaller half's codes are +0, every other code as stored.
    expect(entries.get('w16')!.quantization).toEqual(before.get('w16')!.quantization);
    const gone16 = smallerHalf(dense.w16);
    const c16 = codes(getTfjsQuantization(after.get('w16')!)!.storedBytes, 2);
    const o16 = codes(before.get('w16')!.storedBytes, 2);
    c16.forEach((c, i) => expect([i, c]).toEqual([i, gone16.has(i) ? 0 : o16[i]]));
    expect(layer('w16')).toMatchObject({ stored: 'tfjs float16', zeros: 32 });

    // uint8 with zero representable: the zero code, the rest as stored.
    const qq = before.get('wq')!.quantization as { min: number; scale: number };
    const zero = Math.round(-qq.min / qq.scale);
    expect(zero * qq.scale + qq.min).toBe(0);
    expect(entries.get('wq')!.quantization).toEqual(qq);
    const goneQ = smallerHalf(dense.wq);
    const cq = codes(getTfjsQuantization(after.get('wq')!)!.storedBytes, 1);
    const oq = codes(before.get('wq')!.storedBytes, 1);
    cq.forEach((c, i) => expect([i, c]).toEqual([i, goneQ.has(i) ? zero : oq[i]]));
    expect(layer('wq')).toMatchObject({ stored: 'tfjs uint8', zeros: 16 });

    // uint8 with no code for 0: plain float32 now, and the report says why.
    expect(entries.get('wp')!.quantization).toBeUndefined();
    expect(entries.get('wp')!.dtype).toBe('float32');
    expect(layer('wp').widened).toMatch(/no code decodes to exactly 0: written as float32/);
    expect(layer('wp').zeros).toBe(8);

    // Bytes: 64 float16 + 32 uint8 + 16 float32, where the input had 64·2 + 32 + 16.
    expect(tfjsFiles(out).slice(1).reduce((s, f) => s + fs.statSync(f).size, 0)).toBe(64 * 2 + 32 + 16 * 4);

    // Stock tfjs runs it and computes the product of the test's own zeroed weights.
    const zeroed = (w: Float32Array, gone: Set<number>): Float32Array => w.map((v, i) => (gone.has(i) ? 0 : v));
    const x = tf.tensor2d(seeded(8, 54), [1, 8]);
    const [y] = await runGraphModel(out, { x });
    const want = tf.matMul(tf.matMul(tf.matMul(x, tf.tensor2d(zeroed(dense.w16, gone16), [8, 8])), tf.tensor2d(zeroed(dense.wq, goneQ), [8, 4])),
      tf.tensor2d(zeroed(dense.wp, smallerHalf(dense.wp)), [4, 4])).dataSync();
    expect(Array.from(new Float32Array(y.buffer))).toEqual(Array.from(want));
  });
});

describe('ONNX float16 weights (onnxruntime runs the output)', () => {
  /** x[2,8] float16 → MatMul W[8,4] float16 → y. */
  function fp16Model(): Model {
    const g = new Graph();
    g.name = 'fp16';
    const x = new Value('x', { dtype: 'float16', shape: [2, 8] });
    g.inputs.push(x);
    const W = g.addInitializer('W', Tensor.fromArray('float16', [8, 4], Uint16Array.from(seeded(32, 61), floatToHalf), 'W'));
    const y = new Value('y', { dtype: 'float16', shape: [2, 4] });
    g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, W], outputs: [y] }));
    g.outputs.push(y);
    return onnxModel(g, 13);
  }
  const feeds = () => ({ x: new ort.Tensor('float16', Uint16Array.from(seeded(16, 62), floatToHalf), [2, 8]) });

  test('magnitude pruning writes +0 in place: still float16, the other codes as stored, same outputs as the reference', async () => {
    const bytes = encodeOnnx(fp16Model());
    const m = decodeOnnx(bytes);
    const orig = Uint16Array.from(new Uint16Array(Uint8Array.from(m.graph.initializers[0].const!.bytes()).buffer));
    const rep = prune(m);
    expect(rep.layers).toMatchObject([{ weight: 'W', stored: 'float16', zeros: 16 }]);
    const W = m.graph.initializers[0].const!;
    expect(W.dtype).toBe('float16');
    const gone = smallerHalf(Float32Array.from(decodeOnnx(bytes).graph.initializers[0].const!.toFloat32()));
    const got = new Uint16Array(Uint8Array.from(W.bytes()).buffer);
    got.forEach((c, i) => expect([i, c]).toEqual([i, gone.has(i) ? 0 : orig[i]]));
    // The reference: the input model with the test's own codes zeroed.
    const ref = decodeOnnx(bytes);
    const rw = ref.graph.initializers[0].const!;
    rw.setData('float16', [8, 4], { kind: 'bytes', bytes: new Uint8Array(Uint16Array.from(orig, (c, i) => (gone.has(i) ? 0 : c)).buffer) });
    const a = (await runOnce(encodeOnnx(m), feeds())).y.data as Uint16Array;
    const b = (await runOnce(encodeOnnx(ref), feeds())).y.data as Uint16Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(encodeOnnx(m).byteLength).toBe(bytes.byteLength);
  });

  test('channel pruning and saliency leave a float16 weight alone, naming why', () => {
    const why = [{ layer: 'mm', reason: expect.stringMatching(/float16: only magnitude pruning of elements/), params: 32 }];
    const channel = prune(decodeOnnx(encodeOnnx(fp16Model())), { pattern: 'channel' });
    expect([channel.layers, channel.skipped]).toEqual([[], why]);
    const saliency = runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity: 0.5, criterion: 'saliency' }, new Map()), decodeOnnx(encodeOnnx(fp16Model())), CTX).changes;
    expect([saliency.layers, saliency.skipped]).toEqual([[], why]);
  });
});

describe('weights already stored quantized', () => {
  test('each is named with why, and nothing is pruned (fixture MLP after mc\'s int8 and int4 passes)', () => {
    for (const bits of [8, 4] as const) {
      const m = decodeOnnx(fs.readFileSync(path.join(__dirname, '../../fixtures/mlp.onnx')));
      runPass(quantizePass(resolveQuantizeOptions({ bits, minElements: 0 })), m, CTX);
      const ops = [...m.graph.allNodes()].map((n) => n.opType);
      const rep = prune(m);
      expect(rep.layers).toEqual([]);
      // One line per quantized layer: DequantizeLinear → Gemm/MatMul, or an op computing on integer weights.
      const dq = ops.filter((o) => o === 'DequantizeLinear').length;
      const nbits = ops.filter((o) => o === 'MatMulNBits').length;
      expect(dq + nbits).toBe(3);
      expect(rep.skipped.filter((s) => /is computed by DequantizeLinear node .*: it is stored quantized/.test(s.reason)).length).toBe(dq);
      expect(rep.skipped.filter((s) => /MatMulNBits node .* computes on stored integer weights/.test(s.reason)).length).toBe(nbits);
      expect(rep.skipped.length).toBe(3);
    }
  });
});

describe('a layer the pruner could not take counts as kept', () => {
  const changes = (skipped: PruneChanges['skipped']): PruneChanges => ({
    criterion: 'magnitude', pattern: 'unstructured', scope: 'layer', targetSparsity: 0.5, globalSparsity: 0.5, skipped,
    layers: [{ layer: 'a', weight: 'a.w', op: 'Gemm', shape: [10, 10], newShape: [10, 10], params: 100, zeros: 50, sparsity: 0.5 }],
  });

  test('1 of 2 layers pruned (the other stored quantized) is short of the fraction; an excluded one is the user\'s choice', () => {
    // 50 zeros over 100 + 300 weights: 12.5%, under 90% of 50%.
    expect(pruneShortfall(changes([{ layer: 'b', reason: 'stored quantized', params: 300 }]))?.summary)
      .toBe('pruned 12.5% of the weights of the pruned and the skipped layers, under 90% of the requested 50.0%');
    expect(pruneShortfall(changes([{ layer: 'b', reason: 'excluded' }]))).toBeNull();
  });

  test('the fixture MLP after static int8 has only its float layer left: the run is short, per weight', () => {
    const m = decodeOnnx(fs.readFileSync(path.join(__dirname, '../../fixtures/mlp.onnx')));
    runPass(quantizePass(resolveQuantizeOptions({ bits: 8, minElements: 0, exclude: ['logits*'] })), m, CTX);
    const rep = prune(m);
    expect(rep.layers.map((l) => l.layer)).toEqual(['logits/Gemm']);
    expect(rep.skipped.map((s) => s.layer).sort()).toEqual(['fc1/Gemm', 'fc2/Gemm']);
    expect(pruneShortfall(rep)?.summary).toMatch(/of the weights of the pruned and the skipped layers, under 90% of the requested 50.0%/);
  });
});
