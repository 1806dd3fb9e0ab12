/**
 * The output check and back-off of weight quantization (src/pipeline/verify-outputs.ts)
 * on a tfjs graph model built here with one deliberately fragile weight:
 * w2 holds one huge value on a row that a dead ReLU unit never reads, so its
 * per-tensor uint8 range is 100 wide, every other element of w2 rounds to 0,
 * and yet its weight SQNR (dominated by the outlier) passes the 30 dB
 * per-tensor bound. Every output SQNR here is recomputed by the test from
 * stock tfjs runs of the written files, on inputs the check never saw.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { quantizeFile } from '../../src/pipeline/quantize';
import { OutputBoundError, unitsOf } from '../../src/pipeline/verify-outputs';
import { resolveQuantizeOptions } from '../../src/passes';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { mulberry32 } from '../../src/util/prng';
import { constNode, f32, node, placeholder, runGraphModel, tempDir, writeGraphModel } from '../tfjs/helpers';

function gaussian(n: number, std: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

const DEAD = 5; // hidden unit whose ReLU is always 0 for inputs ≥ 0
const H = 64;

async function writeFragileModel(dir: string): Promise<void> {
  const w1 = gaussian(16 * H, 0.3, 1);
  for (let i = 0; i < 16; i++) w1[i * H + DEAD] = -Math.abs(w1[i * H + DEAD]) - 0.1;
  const w2 = gaussian(H * H, 0.05, 2);
  w2[DEAD * H + 7] = 100; // read only through the dead unit: no effect on the float outputs
  const w3 = gaussian(H * 16, 0.2, 3);
  const mm = (name: string, a: string, b: string): Record<string, unknown> => node(name, 'MatMul', [a, b], { T: f32, transpose_a: { b: false }, transpose_b: { b: false } });
  const nodes = [
    placeholder('x', [-1, 16]),
    constNode('w1', tf.tensor2d(w1, [16, H])), constNode('w2', tf.tensor2d(w2, [H, H])), constNode('w3', tf.tensor2d(w3, [H, 16])),
    mm('h1', 'x', 'w1'), node('r1', 'Relu', ['h1'], { T: f32 }),
    mm('h2', 'r1', 'w2'), node('r2', 'Relu', ['h2'], { T: f32 }),
    mm('y', 'r2', 'w3'), node('Identity', 'Identity', ['y'], { T: f32 }),
  ];
  await writeGraphModel(dir, nodes, {
    w1: tf.tensor2d(w1, [16, H]), w2: tf.tensor2d(w2, [H, H]), w3: tf.tensor2d(w3, [H, 16]),
  });
}

/** Output SQNR of `dir` against `ref` on inputs in [0, 1) the check did not use (seed 99). */
async function sqnrAgainst(ref: string, dir: string): Promise<number> {
  const r = mulberry32(99);
  const x = tf.tensor2d(Float32Array.from({ length: 32 * 16 }, () => r()), [32, 16]);
  const a = new Float32Array((await runGraphModel(ref, { x }))[0].buffer);
  const b = new Float32Array((await runGraphModel(dir, { x }))[0].buffer);
  let s = 0;
  let e = 0;
  for (let i = 0; i < a.length; i++) { s += a[i] * a[i]; e += (a[i] - b[i]) ** 2; }
  return 10 * Math.log10(s / e);
}

function storedDtypes(dir: string): Record<string, string> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { weightsManifest: { weights: { name: string; dtype: string; quantization?: { dtype: string } }[] }[] };
  const out: Record<string, string> = {};
  for (const w of json.weightsManifest[0].weights) out[w.name] = w.quantization?.dtype ?? w.dtype;
  return out;
}

describe('output check and back-off (tfjs)', () => {
  const dir = tempDir('fragile');
  beforeAll(async () => {
    await initTfjs();
    await writeFragileModel(dir);
  });

  test('without the check: every weight passes its own 30 dB bound, the outputs do not', async () => {
    const out = path.join(tempDir('plain'), 'm');
    const r = await quantizeFile({ input: dir, output: out, quantize: resolveQuantizeOptions({ bits: 8 }), outputCheck: false });
    expect(r.outputCheck).toBeUndefined();
    expect(r.report.tensors.map((t) => [t.name, t.form])).toEqual([['w1', 'tfjs uint8'], ['w2', 'tfjs uint8'], ['w3', 'tfjs uint8']]);
    for (const t of r.report.tensors) expect(t.sqnrDb!).toBeGreaterThan(30);
    expect(await sqnrAgainst(dir, out)).toBeLessThan(10);
  });

  test('the check backs off the fragile weight alone, and the written model meets the bound in stock tfjs', async () => {
    const out = path.join(tempDir('checked'), 'm');
    const r = await quantizeFile({ input: dir, output: out, quantize: resolveQuantizeOptions({ bits: 8 }) });
    const c = r.outputCheck!;
    expect(c.inputs.source).toBe('synthetic');
    expect(c.bound.minOutputSqnrDb).toBe(30);
    expect(c.before[0].sqnrDb!).toBeLessThan(30);
    expect(c.backedOff.map((b) => [b.name, b.from])).toEqual([['w2', 'tfjs uint8']]);
    expect(c.backedOff[0].to).toMatch(/^tfjs (uint16|float16)$/);
    expect(c.after[0].sqnrDb!).toBeGreaterThanOrEqual(30);
    expect(c.passed).toBe(true);
    const dtypes = storedDtypes(out);
    expect(dtypes.w1).toBe('uint8');
    expect(dtypes.w3).toBe('uint8');
    expect(['uint16', 'float16']).toContain(dtypes.w2);
    // Independent: stock tfjs on the written files, on inputs the check never saw.
    expect(await sqnrAgainst(dir, out)).toBeGreaterThanOrEqual(30);
  });

  test('--min-agreement alone: top-1 of the classifier output flips until the fragile weight is backed off', async () => {
    const out = path.join(tempDir('agreement'), 'm');
    const r = await quantizeFile({ input: dir, output: out, quantize: resolveQuantizeOptions({ bits: 8 }), outputCheck: { minOutputSqnrDb: -1000, minAgreement: 1, samples: 16 } });
    const c = r.outputCheck!;
    expect(c.before[0].agreement!).toBeLessThan(1);
    expect(c.backedOff.map((b) => b.name)).toEqual(['w2']);
    expect(c.after[0].agreement).toBe(1);
  });

  test('a bound no form can reach fails with OutputBoundError (exit 1) and writes nothing', async () => {
    const out = path.join(tempDir('unreachable'), 'm');
    const run = quantizeFile({ input: dir, output: out, quantize: resolveQuantizeOptions({ bits: 8 }), outputCheck: { minOutputSqnrDb: 200 } });
    await expect(run).rejects.toThrow(OutputBoundError);
    await expect(run).rejects.toThrow(/miss the bound \(output SQNR ≥ 200 dB\)/);
    expect(fs.existsSync(out)).toBe(false);
  });
});

test('unitsOf: at most max runs of consecutive weights, near-equal counts, every weight once in order', () => {
  const w = Array.from({ length: 10 }, (_, i) => `w${i}`);
  expect(unitsOf(w, 4)).toEqual([['w0', 'w1'], ['w2', 'w3', 'w4'], ['w5', 'w6'], ['w7', 'w8', 'w9']]);
  expect(unitsOf(w, 20)).toEqual(w.map((x) => [x]));
  expect(unitsOf(w, 0)).toEqual([w]);
});
