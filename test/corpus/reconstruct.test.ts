/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * GPTQ int4 on real models from the corpus (issue 12: a feature that works on
 * fixtures but not on real models is not done). Per model: weights lifted from
 * Constant nodes as mc quantize does, then GPTQ and RTN (int4, block 32) on
 * calibration inputs from the corpus test's input builders (test/corpus/inputs.ts:
 * seeded uniform inputs of valid shape; rendered text images for PP-OCR's
 * detector, which sees nothing in noise), and judged on held-out inputs of
 * another seed:
 *  - every layer GPTQ reconstructed has a lower held-out output error
 *    ‖(W − Ŵ)X‖² than RTN's, or chose exactly RTN's levels (named: a first
 *    conv fed i.i.d. uniform noise has an H that is diagonal up to sampling
 *    noise, where rounding to nearest is already GPTQ's optimum), or is a
 *    first layer fed that noise, or has an under-determined H (fewer input
 *    rows than inputs: an SE block's 1×1 conv after global pooling sees one
 *    row per sample), which the report notes; each named in the log, and more
 *    than half the layers strictly below RTN. A weight the schedule cannot read
 *    (ConvTranspose, float16) is quantized to nearest with the reason;
 *  - the written model runs in onnxruntime; its output SQNR against the float
 *    model on the held-out inputs is printed next to RTN's.
 * Without the corpus the suite fails, naming the command to run; MC_SKIP_CORPUS=1 skips it loudly (a failure under CI=true or MC_REQUIRE_CORPUS=1, test/helpers/require-dep.ts).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/formats';
import { encodeOnnx } from '../../src/formats/onnx/codec';
import type { Model } from '../../src/ir';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { liftWeights } from '../../src/pipeline/quantize';
import { reconstructForQuantize } from '../../src/pipeline/reconstruct';
import { ROOT } from '../helpers/cli-run';
import { corpusGate } from '../helpers/require-dep';
import { npyHeader } from '../data/helpers';
import { heldOutErrors } from '../reconstruct-e2e/helpers';
import { GraphInput, renderedTextImages, synthesizeInputs } from './inputs';

jest.setTimeout(1_200_000);

const listing = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'corpus.js'), 'list', '--json'], { encoding: 'utf8' })) as
  { dir: string; models: { name: string; path: string; format: string; present: boolean }[] };
/** Models run by the test; MC_RECONSTRUCT_MODELS=a,b picks others (the report's survey ran every ONNX model). */
const NAMES = (process.env.MC_RECONSTRUCT_MODELS ?? 'ppocr-mobile-v2-cls,oww-embedding,ppocr-v4-det').split(',');
const CALIB_BATCHES = 8;
const HELD_BATCHES = 4;

/** float32 .npy of `batches` inputs (one float input), written where mc's reader takes them. */
function writeNpy(file: string, parts: ort.Tensor[]): void {
  const shape = [...parts[0].dims];
  shape[0] = parts.reduce((s, p) => s + p.dims[0], 0);
  const body = Buffer.concat(parts.map((p) => Buffer.from((p.data as Float32Array).buffer, (p.data as Float32Array).byteOffset, (p.data as Float32Array).byteLength)));
  fs.writeFileSync(file, Buffer.concat([npyHeader('<f4', shape), body]));
}

function inputsOf(model: Model): GraphInput[] {
  return model.graph.inputs.filter((v) => !v.const).map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ? v.shape.map((d) => (typeof d === 'number' ? d : null)) : null }));
}

/** Inputs of `batches` batches for one-input models (every model the test runs). */
function batchesOf(name: string, model: Model, dir: string, seed: number, batches: number): ort.Tensor[] {
  const inputs = inputsOf(model);
  if (inputs.length !== 1) throw new Error(`${name}: ${inputs.length} inputs (this test feeds one-input models)`);
  if (name === 'ppocr-v4-det') return [renderedTextImages(path.join(dir, `text-${seed}`), 4 * batches, seed, 128, 128)];
  return Array.from({ length: batches }, (_, b) => Object.values(synthesizeInputs(inputs, seed + b))[0]);
}

async function outputs(model: Model, x: ort.Tensor): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(encodeOnnx(model));
  try {
    const out = await s.run({ [s.inputNames[0]]: x });
    return s.outputNames.map((n) => Float32Array.from(out[n].data as Float32Array));
  } finally {
    await s.release();
  }
}

function sqnr(ref: Float32Array[], got: Float32Array[]): number {
  let s = 0;
  let e = 0;
  ref.forEach((r, k) => { for (let i = 0; i < r.length; i++) { s += r[i] * r[i]; e += (r[i] - got[k][i]) ** 2; } });
  return 10 * Math.log10(s / e);
}

corpusGate().describe('GPTQ int4 on real models (corpus)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-corpus-gptq-'));
  beforeAll(() => {
    const missing = listing.models.filter((m) => NAMES.includes(m.name) && !m.present).map((m) => m.name);
    if (missing.length) throw new Error(`the model corpus is missing in ${listing.dir} (${missing.join(', ')}): run node scripts/corpus.js (or set MC_SKIP_CORPUS=1 to skip this suite)`);
  });

  test.each(NAMES)('%s: every reconstructed layer below RTN on held-out inputs (or named); the output runs in onnxruntime', async (name) => {
    const entry = listing.models.find((m) => m.name === name)!;
    const model = loadModel(entry.path);
    liftWeights(model);
    const calib = path.join(dir, `${name}-calib.npy`);
    const held = path.join(dir, `${name}-held.npy`);
    writeNpy(calib, batchesOf(name, model, dir, 1000, CALIB_BATCHES));
    const heldParts = batchesOf(name, model, dir, 2000, HELD_BATCHES);
    writeNpy(held, heldParts);
    const opts = resolveQuantizeOptions({ bits: 4 });
    const t0 = Date.now();
    const gm = model.clone();
    const gptq = await reconstructForQuantize(gm, { ...opts, method: 'gptq' }, { data: calib });
    const seconds = (Date.now() - t0) / 1000;
    const rm = model.clone();
    const rtn = await reconstructForQuantize(rm, { ...opts, method: 'rtn' }, { data: calib, samples: 4 });
    const errs = await heldOutErrors(model, gptq.layers, [gptq.dequantized, rtn.dequantized], held, 4 * HELD_BATCHES);
    // GPTQ may choose RTN's levels exactly: where H is diagonal (a first layer fed i.i.d. synthetic noise), RTN is GPTQ's optimum
    const same = (n: string): boolean => {
      const a = gptq.dequantized.get(n)!;
      const b = rtn.dequantized.get(n)!;
      return a.length === b.length && a.every((v, i) => v === b[i]);
    };
    const identical = [...errs.keys()].filter((n) => same(n));
    // a layer reading a model input that the test feeds i.i.d. uniform noise: E[x xᵀ] is diagonal, so H is diagonal up to
    // sampling noise and anything GPTQ changes fits that noise (PP-OCR rec's first conv); named, not counted
    const noiseFed = new Set(gptq.layers.filter((l) => name !== 'ppocr-v4-det' && model.graph.inputs.some((v) => v.name === l.input)).map((l) => l.name));
    const onNoise = [...errs].filter(([n, [g, r]]) => !(g < r) && !same(n) && noiseFed.has(n)).map(([n, [g, r]]) => `${n} (GPTQ/RTN ${(g / r).toFixed(6)})`);
    // a layer whose H has fewer rows than inputs (an SE block's 1×1 conv after global pooling: one row per sample) is
    // under-determined: GPTQ fits the calibration rows; the report notes it (ReconstructLayerReport.note); named, not counted
    const few = new Set(gptq.report.layers.filter((l) => l.note).map((l) => l.name));
    const onFew = [...errs].filter(([n, [g, r]]) => !(g < r) && !same(n) && !noiseFed.has(n) && few.has(n)).map(([n, [g, r]]) => `${n} (GPTQ/RTN ${(g / r).toFixed(3)}; ${gptq.report.layers.find((l) => l.name === n)!.note})`);
    const worse = [...errs].filter(([n, [g, r]]) => !(g < r) && !same(n) && !noiseFed.has(n) && !few.has(n)).map(([n, [g, r]]) => `${n} (GPTQ/RTN ${(g / r).toFixed(6)}: ${g.toExponential(4)} vs ${r.toExponential(4)})`);
    const ratios = [...errs].map(([, [g, r]]) => g / r).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    const fallbacks = gptq.report.layers.filter((l) => l.fallback).map((l) => `${l.name}: ${l.fallback}`);
    runPass(quantizePass(gptq.options), gm, { toolVersion: 'test' });
    runPass(quantizePass(rtn.options), rm, { toolVersion: 'test' });
    const x = heldParts.length === 1 ? heldParts[0] : heldParts[0];
    const f = await outputs(model, x);
    const sg = sqnr(f, await outputs(gm, x));
    const sr = sqnr(f, await outputs(rm, x));
    console.log([
      `${name}: ${gptq.report.layers.length} layer(s) reconstructed, ${gptq.report.skipped.length} quantized to nearest; ${gptq.report.passes} passes over ${gptq.report.samples} samples; ${seconds.toFixed(1)} s`,
      `  held-out GPTQ/RTN output error per layer: median ${ratios[Math.floor(ratios.length / 2)]?.toFixed(3)}, range ${ratios[0]?.toFixed(3)}-${ratios[ratios.length - 1]?.toFixed(3)}`,
      `  output SQNR vs float on held-out inputs: GPTQ ${sg.toFixed(1)} dB, RTN ${sr.toFixed(1)} dB`,
      ...(worse.length ? [`  not below RTN: ${worse.join(', ')}`] : []),
      ...(onFew.length ? [`  not below RTN, H under-determined: ${onFew.join(', ')}`] : []),
      ...(onNoise.length ? [`  not below RTN on a model input fed i.i.d. noise (H diagonal up to sampling noise): ${onNoise.join(', ')}`] : []),
      ...(identical.length ? [`  GPTQ chose RTN's levels exactly (equal error): ${identical.join(', ')}`] : []),
      ...fallbacks.map((l) => `  fallback ${l}`),
      ...gptq.report.skipped.slice(0, 8).map((s) => `  nearest ${s.name}: ${s.reason}`),
    ].join('\n'));
    expect(gptq.report.layers.length).toBeGreaterThan(0);
    expect(worse).toEqual([]);
    // the named exceptions are a few structural cases, not the rule
    expect([...errs].filter(([, [g, r]]) => g < r).length).toBeGreaterThan(errs.size / 2);
    expect(Number.isFinite(sg)).toBe(true);
  });
});
