/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Pair-safe channel padding of first-layer convolutions (--target portable,
 * src/passes/quantize/static/pad-channels.ts). On AVX2 onnxruntime adds the
 * u8·s8 products of input channels (2k, 2k+1) in saturating int16; with a
 * zero-weight channel after every real one no pair holds two non-zero
 * products, so the stock session computes exact integers on every CPU. The
 * exact reference is the appended-padding form run with
 * session.x64quantprecision = 1, under which onnxruntime moves the weights to
 * uint8 and runs its U8U8 kernel (vpmaddwd on int16: exact) where the U8S8
 * kernel could saturate — on a single quantized layer nothing else differs.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import { Graph, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { readsModelInput } from '../../src/passes/quantize/static';
import { quantizeStaticModel } from '../../src/pipeline/static';
import { detectCpu } from '../../src/runtime/cpu';
import { normal, uniform, writeNpy } from '../calibrate/helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-pair-safe-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** x [N, C, 16, 16] → Normalize (x − 0.5) → Conv(C→16, 3×3, same) → Relu → y: a first layer fed by the model input. */
function build(c: number, normalize: boolean): Model {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['N', c, 16, 16] });
  g.inputs.push(x);
  const w = g.addInitializer('w', Tensor.fromArray('float32', [16, c, 3, 3], normal(16 * c * 9, 5, 0.5), 'w'));
  const b = g.addInitializer('b', Tensor.fromArray('float32', [16], normal(16, 6, 0.1), 'b'));
  let input = x;
  if (normalize) {
    const half = g.addInitializer('half', Tensor.fromArray('float32', [], new Float32Array([0.5]), 'half'));
    input = new Value('xn');
    g.addNode(new Node({ opType: 'Sub', name: 'normalize', inputs: [x, half], outputs: [input] }));
  }
  const c1 = new Value('c1');
  const y = new Value('y', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Conv', name: 'conv1', inputs: [input, w, b], outputs: [c1], attributes: [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu1', inputs: [c1], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

async function run(m: Model, x: Float32Array, c: number, precise = false, optimized?: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeOnnx(m), {
    intraOpNumThreads: 1, ...(precise ? { extra: { session: { x64quantprecision: '1' } } } : {}), ...(optimized ? { optimizedModelFilePath: optimized } : {}),
  });
  const out = await s.run({ x: new ort.Tensor('float32', x, [6, c, 16, 16]) });
  await s.release();
  return out.y.data as Float32Array;
}

/**
 * Counts the int16 pairs vpmaddubsw would saturate in the model's one quantized Conv on input x: u8 codes of the
 * Conv's input (int8 codes + 128, as onnxruntime converts them on x86) times its int8 weights, pairs of input
 * channels (2k, 2k+1) at each tap and output pixel (convsym.cpp packing; padding reads the zero point).
 */
function saturatingPairs(m: Model, x: Float32Array, n: number, c: number, slot: 1 | 2): number {
  const conv = m.graph.nodes.find((nd) => nd.opType === 'Conv')!;
  const wq = conv.inputs[1]!.producer!.inputs[0]!.const!;
  const [o, cw, kh, kw] = wq.shape;
  const w = wq.typed() as Int8Array;
  const q = conv.inputs[0]!.producer!.inputs[0]!.producer!; // DQ ← Q
  const scale = q.inputs[1]!.const!.toFloat32()[0];
  const zp = Number(q.inputs[2]!.const!.typed()[0]) + (q.inputs[2]!.const!.dtype === 'int8' ? 128 : 0);
  // The conv's input channels: the model input's channel i at i·slot (slot 1 appended padding, 2 interleaved), zeros elsewhere.
  const code = (b: number, ch: number, yy: number, xx: number): number => {
    if (yy < 0 || yy >= 16 || xx < 0 || xx >= 16) return zp;
    if (ch % slot !== 0 || ch / slot >= c) return zp; // a zero channel quantizes to the zero point
    const v = x[((b * c + ch / slot) * 16 + yy) * 16 + xx] - (m.graph.nodes.some((nd) => nd.opType === 'Sub') ? 0.5 : 0);
    return Math.max(0, Math.min(255, Math.round(v / scale) + zp));
  };
  let count = 0;
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) for (let yy = 0; yy < 16; yy++) for (let xx = 0; xx < 16; xx++) {
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) for (let ch = 0; ch < cw; ch += 2) {
      const p = code(b, ch, yy + ky - 1, xx + kx - 1) * w[((oc * cw + ch) * kh + ky) * kw + kx]
        + code(b, ch + 1, yy + ky - 1, xx + kx - 1) * w[((oc * cw + ch + 1) * kh + ky) * kw + kx];
      if (p > 32767 || p < -32768) count++;
    }
  }
  return count;
}

test.each([
  [3, false, 8], // RGB: [r, g, b, 0] would pair r with g
  [2, false, 4],
  [4, false, 8],
  [3, true, 8], // behind a normalisation Sub: still the model input's data
])('C = %d (normalised: %s): channels interleaved to %d, exact on every CPU', async (c, normalize, to) => {
  const calib = path.join(tmp, `calib-${c}.npy`);
  writeNpy(calib, uniform(16 * c * 256, 2, 0, 1), [16, c, 16, 16]);
  const portable = build(c, normalize);
  const r = await quantizeStaticModel(portable, {}, { data: calib });
  expect(r.settings).toMatchObject({ target: 'portable', pairSafeConvs: ['conv1'] });
  expect(r.transformations.some((l) => l.startsWith('interleaved a zero channel') && l.endsWith(`conv1 ${c}→${to}`))).toBe(true);
  const conv = portable.graph.nodes.find((n) => n.opType === 'Conv')!;
  const q = conv.inputs[1]!.producer!.inputs[0]!.const!;
  expect(q.shape).toEqual([16, to, 3, 3]);
  const w = q.typed() as Int8Array;
  for (let o = 0; o < 16; o++) {
    for (let ic = 0; ic < to; ic++) {
      for (let k = 0; k < 9; k++) {
        // Even slots hold the original channels 0…C−1, everything else is zero.
        if (ic % 2 === 1 || ic / 2 >= c) expect(w[(o * to + ic) * 9 + k]).toBe(0);
      }
    }
  }
  const vnni = build(c, normalize);
  await quantizeStaticModel(vnni, { target: 'avx512-vnni', spaceToDepthPooling: true }, { data: calib }); // pinned: the default times it
  expect(vnni.graph.nodes.map((n) => n.opType)).not.toContain('Gather');
  const x = uniform(6 * c * 256, 9, 0, 1); // bright, dense codes: the worst case for int16 pairs
  // The input does exercise the hazard: the appended form has pairs AVX2 would saturate, the interleaved one none.
  expect(saturatingPairs(portable, x, 6, c, 2)).toBe(0);
  expect(saturatingPairs(vnni, x, 6, c, 1)).toBeGreaterThan(0);
  const exact = await run(vnni, x, c, true);
  const optimized = path.join(tmp, `opt-${c}.onnx`);
  const got = await run(portable, x, c, false, optimized);
  const fused = loadOnnx(optimized).graph.nodes.map((n) => n.opType);
  expect(fused).toContain('QLinearConv'); // the interleaved input still reaches onnxruntime's int8 conv
  expect(fused).not.toContain('Conv');
  let diff = 0;
  let nonzero = 0;
  for (let i = 0; i < got.length; i++) { diff = Math.max(diff, Math.abs(got[i] - exact[i])); if (got[i] !== 0) nonzero++; }
  expect(nonzero).toBeGreaterThan(got.length / 10);
  expect(diff).toBe(0);
  // Where products add in int32 the appended form is exact on the stock session too.
  if (detectCpu().u8s8Saturates === false) expect(await run(vnni, x, c)).toEqual(got);
});

test('a 1-channel input is padded as before: [x, 0, 0, 0] is already pair-safe', async () => {
  const calib = path.join(tmp, 'calib-1.npy');
  writeNpy(calib, uniform(16 * 256, 2, 0, 1), [16, 1, 16, 16]);
  const m = build(1, false);
  const r = await quantizeStaticModel(m, {}, { data: calib });
  expect(r.settings.pairSafeConvs).toBeUndefined();
  expect(r.transformations.some((l) => l.startsWith('padded Conv input channels') && l.endsWith('conv1 1→4'))).toBe(true);
  expect(m.graph.nodes.map((n) => n.opType)).not.toContain('Gather');
});

test('only convolutions fed by the model input (through layout and normalisation ops) are first layers', () => {
  const m = build(3, true);
  const g = m.graph;
  const y = g.outputs[0];
  const w2 = g.addInitializer('w2', Tensor.fromArray('float32', [8, 16, 1, 1], normal(128, 7, 0.5), 'w2'));
  const z = new Value('z', { dtype: 'float32' });
  const conv2 = new Node({ opType: 'Conv', name: 'conv2', inputs: [y, w2], outputs: [z], attributes: [intsAttr('kernel_shape', [1, 1])] });
  g.addNode(conv2);
  g.outputs[0] = z;
  expect(readsModelInput(g, g.nodes.find((n) => n.name === 'conv1')!)).toBe(true);
  expect(readsModelInput(g, conv2)).toBe(false); // ReLU-fed: mostly small codes
});
