/**
 * GPTQ on tfjs models (issue 12 "Both formats ... For tfjs, use the tfjs
 * runtime"): the fixture CNN and MLP as graph models (_FusedConv2D /
 * _FusedMatMul) and layers models (Conv2D / Dense), layer inputs from stock
 * tfjs on wasm, levels on tfjs' own per-tensor uint8 grid (16 levels at int4).
 *  - im2colNhwc against tf.conv2d (SAME and VALID, strides, dilation);
 *  - GPTQ's held-out output error ‖(W − Ŵ)X‖² (the float model's layer inputs
 *    on 500 eval images, not the calibration images) is below RTN's on every
 *    layer, int4 and int8;
 *  - the written model loads and runs in stock tfjs, its weights decode to the
 *    dequantized weights the schedule used, and its top-1 on the 1,000 eval
 *    images is no worse than RTN's;
 *  - the same inputs and flags give the same bytes twice.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/formats';
import { encodeTfjs } from '../../src/formats/tfjs';
import type { Model } from '../../src/ir';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { im2colNhwc } from '../../src/passes/reconstruct';
import { reconstructForQuantize } from '../../src/pipeline/reconstruct';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { TfjsRunner } from '../../src/runtime/tfjs-runner';
import { CALIB, EVAL_X, FIX, heldOutErrors, readNpy, top1 } from './helpers';

const ctx = { toolVersion: 'test' };
jest.setTimeout(600_000);

/** Logits of the model as stock tfjs runs the bytes mc would write, on every eval image (NCHW [N,1,28,28] = NHWC [N,28,28,1]). */
async function tfjsLogits(model: Model): Promise<{ y: Float32Array; classes: number }> {
  const r = await TfjsRunner.fromArtifacts(encodeTfjs(model));
  try {
    const x = readNpy(EVAL_X);
    const shape: number[] = r.inputs[0].shape!.map((d, i) => (i === 0 ? x.shape[0] : Number(d)));
    const out = await r.run(new Map([[r.inputs[0].name, { dtype: 'float32', shape, data: x.data as Float32Array }]]));
    const t = [...out.values()][0];
    return { y: t.data as Float32Array, classes: t.shape[t.shape.length - 1] };
  } finally {
    await r.dispose();
  }
}

describe('im2colNhwc', () => {
  beforeAll(async () => { await initTfjs(); });
  test.each([
    ['SAME', [1, 1], [1, 1]], ['VALID', [1, 1], [1, 1]], ['SAME', [2, 2], [1, 1]], ['VALID', [2, 1], [1, 1]], ['SAME', [1, 1], [2, 2]],
  ] as ['SAME' | 'VALID', [number, number], [number, number]][])('rows × Wᵀ equal tf.conv2d (%s, strides %j, dilations %j)', (padding, strides, dilations) => {
    const [n, h, w, c, kh, kw, m] = [2, 7, 6, 3, 3, 2, 4];
    let seed = 7;
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 - 0.5; };
    const x = Float32Array.from({ length: n * h * w * c }, rnd);
    const k = Float32Array.from({ length: kh * kw * c * m }, rnd);
    const ref = tf.conv2d(tf.tensor4d(x, [n, h, w, c]), tf.tensor4d(k, [kh, kw, c, m]), strides, padding.toLowerCase() as 'same' | 'valid', 'NHWC', dilations);
    const want = ref.dataSync();
    const got = im2colNhwc(x, [n, h, w, c], { kernel: [kh, kw], strides, dilations, padding });
    expect(got.rows * m).toBe(want.length);
    let worst = 0;
    for (let r = 0; r < got.rows; r++) {
      for (let o = 0; o < m; o++) {
        let s = 0;
        for (let j = 0; j < got.cols; j++) s += got.data[r * got.cols + j] * k[j * m + o];
        worst = Math.max(worst, Math.abs(s - want[r * m + o]));
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });
});

describe.each(['cnn-graph', 'cnn-layers', 'mlp-graph', 'mlp-layers'])('%s', (fixture) => {
  const model = loadModel(path.join(FIX, fixture));

  test.each([4, 8] as const)('GPTQ int%i: held-out output error below RTN on every layer; stock tfjs runs it, top-1 no worse than RTN', async (bits) => {
    const opts = resolveQuantizeOptions({ bits, tfjsDtype: 'uint8' });
    const gm = model.clone();
    const gptq = await reconstructForQuantize(gm, { ...opts, method: 'gptq' }, { data: CALIB });
    const rtn = await reconstructForQuantize(model.clone(), { ...opts, method: 'rtn' }, { data: CALIB, samples: 8 });
    expect(gptq.report.layers.map((l) => [l.name, l.method, l.fallback])).toEqual(gptq.report.layers.map((l) => [l.name, 'gptq', undefined]));
    expect(gptq.report.skipped).toEqual([]);
    const errs = await heldOutErrors(model, gptq.layers, [gptq.dequantized, rtn.dequantized], EVAL_X, 500);
    console.log(`${fixture} int${bits}, ${gptq.report.passes} passes:\n  ${[...errs].map(([n, [g, r]]) => `${n}: GPTQ/RTN ${(g / r).toFixed(3)}`).join('\n  ')}`);
    for (const [name, [g, r]] of errs) expect([name, g / r < 1]).toEqual([name, true]);

    const rep = runPass(quantizePass(gptq.options), gm, ctx).changes;
    expect(rep.warnings.filter((w) => w.includes('computed levels'))).toEqual([]);
    const plain = model.clone();
    runPass(quantizePass(opts), plain, ctx);
    // stock tfjs decodes the written weights to what the schedule used
    const r = await TfjsRunner.fromArtifacts(encodeTfjs(gm));
    await r.dispose();
    const decoded = loadModelFromArtifacts(gm);
    for (const l of gptq.layers) {
      const got = decoded.get(l.name)!;
      const want = gptq.dequantized.get(l.name)!;
      // the schedule's Ŵ is in W orientation [rows, cols]; the stored kernel is Wᵀ
      let worst = 0;
      for (let i = 0; i < l.rows; i++) for (let j = 0; j < l.cols; j++) worst = Math.max(worst, Math.abs(got[j * l.rows + i] - want[i * l.cols + j]));
      expect([l.name, worst]).toEqual([l.name, 0]);
    }
    const labels = readNpy(path.join(FIX, 'eval-y.npy')).data as BigInt64Array;
    const f = await tfjsLogits(model);
    const q = await tfjsLogits(gm);
    const p = await tfjsLogits(plain);
    const t = { float: top1(f.y, f.classes, labels), rtn: top1(p.y, p.classes, labels), gptq: top1(q.y, q.classes, labels) };
    console.log(`${fixture} int${bits} top-1 (stock tfjs, 1,000 eval images): float ${t.float.toFixed(1)}, RTN ${t.rtn.toFixed(1)}, GPTQ ${t.gptq.toFixed(1)}`);
    expect(t.gptq).toBeGreaterThanOrEqual(t.rtn);
  });
});

test('cnn-graph: the same inputs and flags give the same bytes twice (GPTQ int4 act-order)', async () => {
  const model = loadModel(path.join(FIX, 'cnn-graph'));
  const run = async (): Promise<Buffer> => {
    const m = model.clone();
    const r = await reconstructForQuantize(m, resolveQuantizeOptions({ bits: 4, method: 'gptq', actOrder: true }), { data: CALIB, samples: 64 });
    runPass(quantizePass(r.options), m, ctx);
    const a = encodeTfjs(m);
    return Buffer.concat([Buffer.from(a.modelJson), ...a.shards.map((s) => Buffer.from(s.bytes))]);
  };
  expect((await run()).equals(await run())).toBe(true);
});

/** Each weight as stock tfjs decodes the written bytes (tf.io.decodeWeights over the manifest). */
function loadModelFromArtifacts(m: Model): Map<string, Float32Array> {
  const a = encodeTfjs(m);
  const specs = a.json.weightsManifest!.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[];
  const total = a.shards.reduce((s, x) => s + x.bytes.byteLength, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const x of a.shards) { all.set(x.bytes, at); at += x.bytes.byteLength; }
  const t = tf.io.decodeWeights(all.buffer, specs);
  return new Map(Object.entries(t).map(([k, v]) => [k, v.dataSync() as Float32Array]));
}
