/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * The README's in-memory example (Library › Many variants in memory), run
 * against the built package entry (dist/api.js), with its numbers checked
 * against evaluate() on the same models written to files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from '../helpers/cli-run';

const ROOT = path.join(__dirname, '..', '..');
const FIX = path.join(ROOT, 'fixtures');

test('README in-memory example: clone, quantize, Evaluator.evaluate; the float model is left as it was', async () => {
  const entry = path.join(ROOT, require(path.join(ROOT, 'package.json')).main as string);
  expect(fs.existsSync(entry)).toBe(true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mc = require(entry) as typeof import('../../src/api');
  const dir = tempDir('mc-readme-mem-');
  try {
    const float = mc.loadModel(path.join(FIX, 'cnn.onnx'));
    const data = path.join(FIX, 'eval-x.npy');
    const labels = path.join(FIX, 'eval-y.npy');
    const ev = await mc.Evaluator.create({ baseline: float, data, labels, runs: 0 });
    const seen: [number, number | null | undefined, number][] = [];
    try {
      for (const bits of [8, 4] as const) {
        const m = float.clone();
        mc.runPass(mc.quantizePass(mc.resolveQuantizeOptions({ bits })), m, { toolVersion: 'example' });
        const r = await ev.evaluate(m, { name: `cnn-int${bits}.onnx` });
        seen.push([bits, r.candidate.accuracy?.top1, r.candidate.size.bytes]);
        // The same model written and evaluated by path.
        const file = path.join(dir, `cnn-int${bits}.onnx`);
        mc.saveModel(m, file);
        const byPath = await mc.evaluate({ candidate: file, baseline: path.join(FIX, 'cnn.onnx'), data, labels, runs: 0 });
        expect(r.candidate.accuracy).toEqual(byPath.candidate.accuracy);
        expect(r.candidate.fidelity).toEqual(byPath.candidate.fidelity);
        expect(r.candidate.size.bytes).toBe(fs.statSync(file).size);
      }
    } finally {
      await ev.dispose();
    }
    expect(seen[0][1]).toBeGreaterThan(0.88);
    expect(seen[1][2]).toBeLessThan(seen[0][2]);
    expect(mc.modelFiles(path.join(FIX, 'cnn.onnx'))).toHaveLength(1);
    // float was never changed: it still evaluates as the fixture file does.
    const again = await mc.evaluate({ candidate: float, candidateName: path.join(FIX, 'cnn.onnx'), data, labels, runs: 0 });
    expect(again).toEqual(await mc.evaluate({ candidate: path.join(FIX, 'cnn.onnx'), data, labels, runs: 0 }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
