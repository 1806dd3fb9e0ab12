/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * GPTQ on the char-level transformer fixture (fixtures/char-lm.onnx: 13
 * MatMul weights, GPTQ levels from lm-calib-x.npy, perplexity from onnxruntime
 * on the held-out lm-eval-x/y.npy windows, through evaluate()): RTN int4 block
 * 32 must show a measurable loss, and GPTQ must recover at least half of it;
 * and GPTQ's held-out output error is below RTN's on every layer (inputs of
 * the float model on the eval windows, not the calibration ones).
 * With the default backup precision (embedding and lm_head int8), and as
 * issue 12 measured its reference (--backup-bits none --exclude tok_emb: every
 * MatMul int4, the embedding float). With the embedding at int4 too
 * (--backup-bits none), the Gather table's RTN loss is the same in both runs
 * (GPTQ has no layer input for a table), so the share recovered is printed,
 * not asserted.
 */
import * as path from 'path';
import { loadModel } from '../../src/formats';
import type { Model } from '../../src/ir';
import { evaluate } from '../../src/eval';
import { resolveQuantizeOptions } from '../../src/passes';
import { quantizeModel } from '../../src/pipeline/quantize';
import { reconstructForQuantize } from '../../src/pipeline/reconstruct';
import { FIX, heldOutErrors } from './helpers';

jest.setTimeout(600_000);
const MODEL = path.join(FIX, 'char-lm.onnx');
const CALIB = path.join(FIX, 'lm-calib-x.npy');
const EVAL_X = path.join(FIX, 'lm-eval-x.npy');
const EVAL_Y = path.join(FIX, 'lm-eval-y.npy');

async function perplexity(m: Model): Promise<number> {
  const r = await evaluate({ candidate: m, data: EVAL_X, labels: EVAL_Y, metric: 'perplexity', runs: 0 });
  return r.candidate.accuracy!.perplexity!;
}

// The char-LM fixture is committed: a missing file is a failure, not a skip.
describe('char-lm', () => {
  const model = loadModel(MODEL);

  test.each([
    ['backup int8', 8, [], true],
    ['every MatMul int4, embedding float', 'none', ['tok_emb'], true],
    ['every weight int4, embedding too', 'none', [], false],
  ] as const)('int4 block 32 (%s): GPTQ recovers at least half of RTN\'s perplexity increase', async (label, bits, exclude, asserted) => {
    const quantized = async (method: 'rtn' | 'gptq'): Promise<Model> => {
      const m = model.clone();
      await quantizeModel(m, resolveQuantizeOptions({ bits: 4, method, exclude: [...exclude] }), { label, backup: { bits }, reconstruct: { data: CALIB } });
      return m;
    };
    const float = await perplexity(model);
    const rtn = await perplexity(await quantized('rtn'));
    const gptq = await perplexity(await quantized('gptq'));
    const recovered = (rtn - gptq) / (rtn - float);
    console.log(`char-lm int4 block 32, ${label}: perplexity float ${float.toFixed(4)}, RTN ${rtn.toFixed(4)}, GPTQ ${gptq.toFixed(4)} (recovers ${(100 * recovered).toFixed(0)}% of RTN's increase)`);
    expect(rtn).toBeGreaterThan(float * 1.002);
    if (asserted) expect(recovered).toBeGreaterThanOrEqual(0.5);
  });

  test('GPTQ has a lower held-out output error than RTN on every layer', async () => {
    const opts = resolveQuantizeOptions({ bits: 4 });
    const gptq = await reconstructForQuantize(model.clone(), { ...opts, method: 'gptq' }, { data: CALIB });
    const rtn = await reconstructForQuantize(model.clone(), { ...opts, method: 'rtn' }, { data: CALIB, samples: 8 });
    const errs = await heldOutErrors(model, gptq.layers, [gptq.dequantized, rtn.dequantized], EVAL_X, 310);
    console.log(`char-lm int4 block 32, ${gptq.report.passes} passes:\n  ${[...errs].map(([n, [g, r]]) => `${n}: GPTQ/RTN ${(g / r).toFixed(3)}`).join('\n  ')}`);
    for (const [name, [g, r]] of errs) expect([name, g / r < 1]).toEqual([name, true]);
  });
});
