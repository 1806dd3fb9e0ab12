/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * GPTQ, clip search and bias correction wired into the quantize pass, on the
 * fixture MLP and CNN with their real layer inputs (calib-x.npy, 256 images):
 *  - RTN through provided levels writes the bytes of the plain pass;
 *  - GPTQ's output error ‖(W − Ŵ)X‖² on held-out inputs (the float model's
 *    layer inputs on 500 eval images, not the calibration images) is below
 *    RTN's for every quantized layer, int4 block 32 and int8 per channel;
 *  - the same inputs and flags give the same bytes twice.
 * The per-layer ratios are printed (the README table quotes them).
 */
import { loadModel } from '../../src/formats';
import { encodeOnnx } from '../../src/formats/onnx/codec';
import { quantizePass, resolveQuantizeOptions, runPass, type QuantizeOptions } from '../../src/passes';
import { reconstructForQuantize } from '../../src/pipeline/reconstruct';
import { CALIB, EVAL_X, FIX, heldOutErrors } from './helpers';
import * as path from 'path';

const ctx = { toolVersion: 'test' };
jest.setTimeout(300_000);

describe.each(['mlp.onnx', 'cnn.onnx'])('%s', (fixture) => {
  const model = loadModel(path.join(FIX, fixture));

  test.each([4, 8] as const)('RTN through provided levels is byte-identical to the plain pass (int%i)', async (bits) => {
    const opts = resolveQuantizeOptions({ bits });
    const plain = model.clone();
    runPass(quantizePass(opts), plain, ctx);
    const viaLevels = model.clone();
    const r = await reconstructForQuantize(viaLevels, { ...opts, method: 'rtn' }, { data: CALIB, samples: 16 });
    expect(r.options.levels!.size).toBeGreaterThan(0);
    const rep = runPass(quantizePass(r.options), viaLevels, ctx).changes;
    expect(rep.warnings.filter((w) => w.includes('computed levels'))).toEqual([]);
    expect(Buffer.from(encodeOnnx(viaLevels)).equals(Buffer.from(encodeOnnx(plain)))).toBe(true);
  });

  test.each([
    ['int4 block 32', { bits: 4 }],
    ['int8 per channel', { bits: 8 }],
  ] as [string, Partial<QuantizeOptions>][])('GPTQ has a lower held-out output error than RTN on every layer (%s)', async (label, partial) => {
    const opts = resolveQuantizeOptions(partial);
    const gptq = await reconstructForQuantize(model.clone(), { ...opts, method: 'gptq' }, { data: CALIB });
    const rtn = await reconstructForQuantize(model.clone(), { ...opts, method: 'rtn' }, { data: CALIB, samples: 8 });
    expect(gptq.report.layers.every((l) => l.method === 'gptq' && !l.fallback)).toBe(true);
    const errs = await heldOutErrors(model, gptq.layers, [gptq.dequantized, rtn.dequantized], EVAL_X, 500);
    const lines = [...errs].map(([name, [g, r]]) => `${name}: GPTQ/RTN ${(g / r).toFixed(3)}`);
    console.log(`${fixture} ${label}, ${gptq.report.passes} passes over the data:\n  ${lines.join('\n  ')}`);
    for (const [name, [g, r]] of errs) expect([name, g / r < 1]).toEqual([name, true]);
  });

  test('the same model, data and flags give the same bytes twice (GPTQ act-order + bias correction)', async () => {
    const run = async (): Promise<Buffer> => {
      const m = model.clone();
      const r = await reconstructForQuantize(m, resolveQuantizeOptions({ bits: 4, method: 'gptq', actOrder: true, biasCorrection: true }), { data: CALIB, samples: 64 });
      runPass(quantizePass(r.options), m, ctx);
      return Buffer.from(encodeOnnx(m));
    };
    expect((await run()).equals(await run())).toBe(true);
  });
});
