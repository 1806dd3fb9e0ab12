/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * The SpaceToDepth → Conv → Split → Max rewrite of a first-layer
 * Conv → MaxPool(2×2) (src/passes/quantize/static/space-to-depth-pool.ts):
 * onnxruntime's outputs are bit-identical to the quantized model without
 * the rewrite, for kernel sizes, asymmetric pads, channel counts, with and
 * without Relu and bias, int8 and uint8 activations; ORT still fuses every
 * Conv; near misses are reported with their reason.
 *
 * Bit-identity is an ISA-dependent claim. On AVX2 (and AVX-512 without VNNI)
 * onnxruntime's u8×s8 kernels add the products of neighbouring input
 * channels in saturating int16 (vpmaddubsw, x86_64/ConvSymKernelAvx2.S and
 * QgemmU8S8KernelAvx2.S); the rewrite pairs neighbouring pixels, which can
 * saturate there, but no pair saturates while every u8 code is ≤ 127
 * (2·127·128 = 32512 < 32767). So the comparison is asserted:
 *  - on the full input range only on CPUs whose products add in int32 (VNNI,
 *    AMX, arm64: src/runtime/cpu.ts), where both forms are exact;
 *  - on every CPU on inputs whose u8 codes are ≤ 127, where no pair of
 *    either form can saturate. Later layers are the same in both forms, so
 *    they see the same integers whatever their kernel does.
 * The rewrite is applied for --target avx512-vnni (and arm64) only.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { openDataset } from '../../src/data';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import { Graph, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import type { StaticQuantizeOptions } from '../../src/passes/quantize/static';
import { quantizeStaticModel } from '../../src/pipeline/static';
import { detectCpu } from '../../src/runtime/cpu';
import { normal, uniform, writeNpy } from '../calibrate/helpers';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const CPU = detectCpu();
/** u8·s8 products accumulate in int32 here (VNNI, AMX, arm64): every int8 form computes exact integers. */
const EXACT_INT8 = CPU.u8s8Saturates === false;
/** The target that applies the rewrite on x86. */
// The rewrite pinned on (its default, 'measure', decides by timing: static-decisions.test.ts).
const VNNI: Partial<StaticQuantizeOptions> = { target: 'avx512-vnni', spaceToDepthPooling: true };

/**
 * Clamps x so that its uint8 code at the model input (int8 codes + 128 on x86) is at most 127: the scale and
 * zero point are read from the QuantizeLinear that reads the graph input (directly or through the channel Pad).
 */
function belowMidCode(model: Model, x: Float32Array): Float32Array {
  const input = model.graph.inputs[0];
  const q = model.graph.nodes.find((n) => n.opType === 'QuantizeLinear' && (n.inputs[0] === input || n.inputs[0]?.producer?.inputs[0] === input))!;
  const scale = q.inputs[1]!.const!.toFloat32()[0];
  const zp = q.inputs[2]!.const!;
  const zpU8 = Number(zp.typed()[0]) + (zp.dtype === 'int8' ? 128 : 0);
  const max = (127 - zpU8) * scale;
  return x.map((v) => Math.min(v, max));
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-s2d-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Case {
  c: number; m: number; k: number; pads: number[]; relu: boolean; bias: boolean; h: number; w: number;
  pool?: number; act?: 'int8' | 'uint8'; perTensor?: boolean;
}

/** x → Conv(C→M) → [Relu] → MaxPool → Conv(M→6, 1×1) → Relu → y. */
function build(t: Case, seed: number): Model {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['N', t.c, t.h, t.w] });
  g.inputs.push(x);
  const w1 = g.addInitializer('w1', Tensor.fromArray('float32', [t.m, t.c, t.k, t.k], normal(t.m * t.c * t.k * t.k, seed, 0.5), 'w1'));
  const b1 = g.addInitializer('b1', Tensor.fromArray('float32', [t.m], normal(t.m, seed + 1, 0.2), 'b1'));
  const w2 = g.addInitializer('w2', Tensor.fromArray('float32', [6, t.m, 1, 1], normal(6 * t.m, seed + 2, 0.5), 'w2'));
  const v = (n: string): Value => new Value(n);
  const [c1, r1, p1, c2, y] = [v('c1'), v('r1'), v('p1'), v('c2'), new Value('y', { dtype: 'float32' })];
  g.addNode(new Node({ opType: 'Conv', name: 'conv1', inputs: t.bias ? [x, w1, b1] : [x, w1], outputs: [c1], attributes: [intsAttr('kernel_shape', [t.k, t.k]), intsAttr('pads', t.pads)] }));
  if (t.relu) g.addNode(new Node({ opType: 'Relu', name: 'relu1', inputs: [c1], outputs: [r1] }));
  const pk = t.pool ?? 2;
  g.addNode(new Node({ opType: 'MaxPool', name: 'pool1', inputs: [t.relu ? r1 : c1], outputs: [p1], attributes: [intsAttr('kernel_shape', [pk, pk]), intsAttr('strides', [2, 2])] }));
  g.addNode(new Node({ opType: 'Conv', name: 'conv2', inputs: [p1, w2], outputs: [c2], attributes: [intsAttr('kernel_shape', [1, 1])] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu2', inputs: [c2], outputs: [y] }));
  g.outputs.push(y);
  const model = new Model('onnx', g);
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: 13 }];
  return model;
}

async function run(model: Model, feed: Record<string, ort.Tensor>, optimized?: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeOnnx(model), { graphOptimizationLevel: 'all', intraOpNumThreads: 1, ...(optimized ? { optimizedModelFilePath: optimized } : {}) });
  const out = await s.run(feed);
  await s.release();
  return out[Object.keys(out)[0]].data as Float32Array;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('rewritten models give the same outputs in onnxruntime', () => {
  const cases: [string, Case][] = [
    ['1→16, 3×3 same, Relu, bias', { c: 1, m: 16, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 12, w: 12 }],
    ['3→8, 5×5, no bias, 10×14', { c: 3, m: 8, k: 5, pads: [2, 2, 2, 2], relu: true, bias: false, h: 10, w: 14 }],
    ['2→4, 1×1, no Relu', { c: 2, m: 4, k: 1, pads: [0, 0, 0, 0], relu: false, bias: true, h: 8, w: 8 }],
    ['3→16, 2×2 with pads [0,0,1,1]', { c: 3, m: 16, k: 2, pads: [0, 0, 1, 1], relu: true, bias: true, h: 12, w: 12 }],
    ['1→16, per-tensor weights', { c: 1, m: 16, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 12, w: 12, perTensor: true }],
    ['1→8, 3×3 with pads [0,2,2,0], uint8', { c: 1, m: 8, k: 3, pads: [0, 2, 2, 0], relu: true, bias: true, h: 12, w: 12, act: 'uint8' }],
    ['4→32, 3×3, uint8', { c: 4, m: 32, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 16, w: 16, act: 'uint8' }],
  ];
  test.each(cases)('%s', async (_, t) => {
    const calib = path.join(tmp, `calib-${t.c}-${t.h}-${t.w}.npy`);
    writeNpy(calib, uniform(24 * t.c * t.h * t.w, 3, -1, 1), [24, t.c, t.h, t.w]);
    const opts: Partial<StaticQuantizeOptions> = { ...VNNI, activationType: t.act ?? 'int8', perTensor: t.perTensor ?? false };
    const plain = build(t, 7);
    await quantizeStaticModel(plain, { ...opts, spaceToDepthPooling: false }, { data: calib });
    const fused = build(t, 7);
    const r = await quantizeStaticModel(fused, opts, { data: calib });
    expect(r.transformations.some((l) => l.includes(`conv1 (${t.c}→${t.m} as ${4 * t.c}→${4 * t.m})`))).toBe(true);
    expect(r.transformations.some((l) => l.startsWith('stored activations as uint8'))).toBe(t.act !== 'uint8');
    expect(r.settings).toMatchObject({ target: 'avx512-vnni', spaceToDepth: true });
    const ops = fused.graph.nodes.map((n) => n.opType);
    expect(ops).toEqual(expect.arrayContaining(['SpaceToDepth', 'Split', 'Max']));
    expect(ops).not.toContain('MaxPool');
    expect(ops).not.toContain('Pad');
    const conv = fused.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.inputs[1]!.producer!.inputs[0]!.const!.shape.slice(0, 2)).toEqual([4 * t.m, 4 * t.c]);
    const x = uniform(5 * t.c * t.h * t.w, 11, -1.2, 1.2); // some values beyond the calibrated range: saturation must match too
    const optimized = path.join(tmp, 'opt.onnx');
    const compare = async (data: Float32Array): Promise<number> => {
      const feed = { x: new ort.Tensor('float32', data, [5, t.c, t.h, t.w]) };
      const a = await run(plain, feed);
      const b = await run(fused, feed, optimized);
      let nonzero = 0;
      for (const v of b) if (v !== 0) nonzero++;
      expect(nonzero).toBeGreaterThan(b.length / 10); // not a dead network that would match trivially
      return maxDiff(a, b);
    };
    if (EXACT_INT8) expect(await compare(x)).toBe(0);
    expect(await compare(belowMidCode(plain, x))).toBe(0);
    const fusedOps = loadOnnx(optimized).graph.nodes.map((n) => n.opType);
    expect(fusedOps.filter((o) => o === 'QLinearConv')).toHaveLength(2);
    expect(fusedOps).not.toContain('Conv');
  });

  test('the fixture CNN: identical logits on the eval set, every Conv fused, the 1-channel input no longer padded', async () => {
    const calib = path.join(FIX, 'calib-x.npy');
    const plain = loadOnnx(path.join(FIX, 'cnn.onnx'));
    // fc layers pinned float, so conv3's pool feeds float layers (not a rewrite candidate)
    const FIXED: Partial<StaticQuantizeOptions> = { ...VNNI, smallLayers: ['fc1/Gemm', 'logits/Gemm'] };
    await quantizeStaticModel(plain, { ...FIXED, spaceToDepthPooling: false }, { data: calib });
    const fused = loadOnnx(path.join(FIX, 'cnn.onnx'));
    const r = await quantizeStaticModel(fused, FIXED, { data: calib });
    expect(r.spaceToDepthSkipped).toEqual([{ conv: 'conv2/Conv', reason: 'more than 4 input channels' }]); // conv3's pool output feeds float layers: no candidate
    expect(r.settings.activationStorage).toBe('uint8');
    const tensors = new Set([...fused.graph.values()].map((v) => v.name));
    for (const a of r.activations) expect(tensors.has(a.name)).toBe(true); // rows name tensors of the output model
    expect(r.activations.find((a) => a.name === 'pool1/pool_max')?.sharedWith).toBe('relu1/relu_space_to_depth');
    expect(fused.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').every((n) => n.outputs[0].dtype === 'uint8')).toBe(true);
    const [batch] = [...openDataset(path.join(FIX, 'eval-x.npy')).batches(1000)];
    const t = batch.inputs.values().next().value!;
    const optimized = path.join(tmp, 'cnn-opt.onnx');
    const logits = async (data: Float32Array): Promise<number> => {
      const feed = { input: new ort.Tensor('float32', data, t.shape) };
      return maxDiff(await run(plain, feed), await run(fused, feed, optimized));
    };
    // The images are bright (codes up to 255); two neighbouring pixels pair up in the rewritten conv, which AVX2 may saturate.
    if (EXACT_INT8) expect(await logits(t.data as Float32Array)).toBe(0);
    expect(await logits(belowMidCode(plain, t.data as Float32Array))).toBe(0);
    const again = loadOnnx(path.join(FIX, 'cnn.onnx'));
    await quantizeStaticModel(again, FIXED, { data: calib });
    expect(Buffer.compare(Buffer.from(encodeOnnx(again)), Buffer.from(encodeOnnx(fused)))).toBe(0); // deterministic, byte for byte
    const ops = loadOnnx(optimized).graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(3);
    expect(ops).not.toContain('Conv');
    expect(ops).not.toContain('Pad');
  });

  test('arm64 applies the rewrite as avx512-vnni does; portable and avx2 leave it out', async () => {
    const calib = path.join(FIX, 'calib-x.npy');
    const arm = loadOnnx(path.join(FIX, 'cnn.onnx'));
    const ra = await quantizeStaticModel(arm, { target: 'arm64', samples: 32, spaceToDepthPooling: true }, { data: calib });
    expect(ra.settings).toMatchObject({ target: 'arm64', spaceToDepth: true, activationStorage: 'uint8' });
    for (const target of ['portable', 'avx2'] as const) {
      const m = loadOnnx(path.join(FIX, 'cnn.onnx'));
      const r = await quantizeStaticModel(m, { target, samples: 32 }, { data: calib });
      expect(m.graph.nodes.map((n) => n.opType)).not.toContain('SpaceToDepth');
      expect(r.spaceToDepthSkipped).toEqual([]);
      expect(JSON.parse(m.metadataProps.find((p) => p.key === 'mc.quantization')!.value)).toMatchObject({ target });
    }
  });

});

describe('near misses stay as they were, with a reason', () => {
  test.each<[string, Case, string]>([
    ['odd height', { c: 1, m: 8, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 11, w: 12 }, 'input 11×12 is not even'],
    ['8 input channels', { c: 8, m: 8, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 8, w: 8 }, 'more than 4 input channels'],
    ['3×3 pool', { c: 1, m: 8, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 12, w: 12, pool: 3 }, 'MaxPool is not 2×2 with stride 2'],
    ['64 output channels', { c: 3, m: 64, k: 3, pads: [1, 1, 1, 1], relu: true, bias: true, h: 8, w: 8 }, 'output channels 64 outside the measured range (even, 4…32)'],
    ['valid conv', { c: 1, m: 8, k: 3, pads: [0, 0, 0, 0], relu: true, bias: true, h: 12, w: 12 }, 'Conv does not keep the spatial size (pads ≠ kernel − 1)'],
  ])('%s', async (_, t, reason) => {
    const calib = path.join(tmp, `miss-${t.c}-${t.h}.npy`);
    writeNpy(calib, uniform(8 * t.c * t.h * t.w, 4, -1, 1), [8, t.c, t.h, t.w]);
    const m = build(t, 3);
    const r = await quantizeStaticModel(m, VNNI, { data: calib });
    expect(r.spaceToDepthSkipped).toEqual([{ conv: 'conv1', reason }]);
    expect(m.graph.nodes.map((n) => n.opType)).not.toContain('SpaceToDepth');
    expect(r.settings.activationStorage).toBeUndefined();
  });
});
