/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * The README's library example, run against the built package entry
 * (dist/api.js, what `require('mc')` loads), so the documented API stays real.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from '../helpers/cli-run';

const ROOT = path.join(__dirname, '..', '..');
const FIX = path.join(ROOT, 'fixtures');

test('README library example: inspect, quantize to int4, evaluate with a budget', async () => {
  const entry = path.join(ROOT, require(path.join(ROOT, 'package.json')).main as string);
  expect(fs.existsSync(entry)).toBe(true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mc = require(entry) as typeof import('../../src/api');
  const dir = tempDir('mc-api-');

  const report = mc.inspectModel(mc.loadModel(path.join(FIX, 'mlp.onnx')), mc.modelFiles(path.join(FIX, 'mlp.onnx')));
  expect(report.parameters).toBe(109386);

  const q = await mc.quantizeFile({ input: path.join(FIX, 'cnn.onnx'), output: path.join(dir, 'cnn.int4.onnx'), quantize: mc.resolveQuantizeOptions({ bits: 4 }) });
  // Every weight whose quantized form is smaller: 3 Conv + 2 Gemm (conv1 [32,1,3,3] has one input channel, no whole
  // block along it, so it gets one int4 scale per output channel).
  expect(q.report.tensors.length).toBe(5);
  expect(q.size.after.bytes / q.size.before.bytes).toBeLessThan(0.2);

  const e = await mc.evaluate({
    candidate: q.output, baseline: path.join(FIX, 'cnn.onnx'), data: path.join(FIX, 'eval-x.npy'),
    labels: path.join(FIX, 'eval-y.npy'), budgets: { maxAccuracyDrop: 1 }, runs: 3, warmup: 1,
  });
  expect(e.candidate.accuracy?.top1).toBeGreaterThan(0.88);
  expect(e.budgets).toEqual([expect.objectContaining({ name: 'max-accuracy-drop', passed: true })]);
});
