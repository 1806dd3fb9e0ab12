/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Accuracy of the reconstructed models in onnxruntime on the 1,000 eval
 * images (every MatMul/Gemm/Conv weight quantized, levels from 256
 * calibration images): GPTQ int4 block 32 loses no more top-1 than RTN; bias
 * correction after RTN reduces the mean output shift per channel
 * (|E[y_q − y_float]| over the logits, on the eval images), and after RTN or
 * GPTQ lowers top-1 by at most 0.1 point. A layer whose H is
 * singular even after dampening falls back to RTN, named in the report.
 * Every figure is printed (the README table quotes them).
 */
import * as path from 'path';
import { loadModel } from '../../src/formats';
import type { Model } from '../../src/ir';
import { quantizePass, resolveQuantizeOptions, runPass, type QuantizeOptions } from '../../src/passes';
import { reconstructForQuantize } from '../../src/pipeline/reconstruct';
import { CALIB, FIX, meanShift, outputsOn, top1 } from './helpers';

const ctx = { toolVersion: 'test' };
jest.setTimeout(600_000);

async function quantized(model: Model, partial: Partial<QuantizeOptions>): Promise<Model> {
  const m = model.clone();
  let opts = resolveQuantizeOptions(partial);
  if (opts.method || opts.clipSearch || opts.biasCorrection) opts = (await reconstructForQuantize(m, opts, { data: CALIB })).options;
  runPass(quantizePass(opts), m, ctx);
  return m;
}

describe.each(['mlp.onnx', 'cnn.onnx'])('%s', (fixture) => {
  const model = loadModel(path.join(FIX, fixture));

  test.each([4, 8] as const)('int%i: GPTQ loses no more top-1 than RTN; bias correction shrinks RTN\'s mean output shift', async (bits) => {
    const float = await outputsOn(model);
    const rows: [string, number, number][] = [];
    const measure = async (label: string, partial: Partial<QuantizeOptions>): Promise<{ top1: number; shift: number }> => {
      const out = await outputsOn(await quantized(model, { bits, ...partial }));
      const r = { top1: top1(out.y, out.classes), shift: meanShift(out.y, float.y, float.classes) };
      rows.push([label, r.top1, r.shift]);
      return r;
    };
    const rtn = await measure('rtn', {});
    const gptq = await measure('gptq', { method: 'gptq' });
    await measure('clip-search', { clipSearch: true });
    const rtnBc = await measure('rtn + bias-correction', { biasCorrection: true });
    const gptqBc = await measure('gptq + bias-correction', { method: 'gptq', biasCorrection: true });
    console.log(`${fixture} int${bits}${bits === 4 ? ' block 32' : ' per channel'}: float top-1 ${top1(float.y, float.classes).toFixed(1)}%\n  ${
      rows.map(([l, t, s]) => `${l}: top-1 ${t.toFixed(1)}%, mean |output shift| ${s.toExponential(2)}`).join('\n  ')}`);
    expect(gptq.top1).toBeGreaterThanOrEqual(rtn.top1);
    // Clip search: printed, not asserted here. It minimises each group's output error ‖(W − Ŵ)X‖² on the
    // calibration inputs, which promises nothing about top-1; test/reconstruct/clip-search.test.ts checks that claim.
    expect(rtnBc.shift).toBeLessThan(rtn.shift);
    // GPTQ + bias correction: printed, not asserted. On the CNN at int8 GPTQ leaves a shift of 3.1e-3 that the
    // correction, estimated on the 256 calibration images, moves to 3.9e-3 on the eval images (reported in issue 12).
    expect(rtnBc.top1).toBeGreaterThanOrEqual(rtn.top1 - 0.1);
    expect(gptqBc.top1).toBeGreaterThanOrEqual(gptq.top1 - 0.1);
  });
});

test('a layer whose H is singular after dampening falls back to RTN, named in the report', async () => {
  // 16 images for a 784-input layer: H has rank ≤ 16; without dampening its Cholesky fails
  const model = loadModel(path.join(FIX, 'mlp.onnx'));
  const m = model.clone();
  const r = await reconstructForQuantize(m, resolveQuantizeOptions({ bits: 4, method: 'gptq', damp: 0 }), { data: CALIB, samples: 16 });
  const fc1 = r.report.layers.find((l) => l.name === 'fc1.weight')!;
  expect(fc1.method).toBe('rtn');
  expect(fc1.fallback).toMatch(/not positive definite after dampening.*quantized to nearest/);
  // its levels are round 1's: the pass writes what RTN writes for it
  const plain = model.clone();
  runPass(quantizePass(resolveQuantizeOptions({ bits: 4 })), plain, ctx);
  runPass(quantizePass(r.options), m, ctx);
  const w = (x: Model): string => Buffer.from(x.graph.initializers.find((v) => v.name.startsWith('fc1.weight'))!.const!.bytes()).toString('hex');
  expect(w(m)).toBe(w(plain));
});
