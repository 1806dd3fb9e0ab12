/**
 * The search seam: many recipes applied to clones of one model in memory share one calibration
 * (StatisticsMemory), and each gives the same bytes as the recipe applied on its own.
 */
import * as path from 'path';
import { loadModel } from '../../src/formats';
import { encodeOnnx } from '../../src/formats/onnx';
import { applyPlan, parseRecipe } from '../../src/plan';
import { StatisticsMemory } from '../../src/pipeline/static';
import { ROOT } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');
// Pinned decisions: timings must not make the variants differ between the shared and separate runs.
const pinned = 'small-layers: int8, space-to-depth: off, calib-samples: 256';
const recipes = [
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: minmax, ${pinned} }\n`,
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: percentile, percentile: 99.9, ${pinned} }\n`,
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: entropy, ${pinned} }\n`,
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: mse, per-tensor: true, ${pinned} }\n    exclude: ['logits*']\n`,
  // Excluding the first conv moves its Q/DQ pair onto tensors the others do not calibrate.
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: entropy, ${pinned} }\n    exclude: ['conv1*']\n`,
];

test('five static recipes on clones of one model calibrate once, and each equals its own separate run', async () => {
  const float = loadModel(path.join(FIX, 'cnn.onnx'));
  const memory = new StatisticsMemory();
  const shared: Uint8Array[] = [];
  for (const [i, text] of recipes.entries()) {
    const m = float.clone();
    await applyPlan(m, parseRecipe(text, path.join(FIX, `r${i}.yaml`), FIX), { label: 'cnn.onnx', statistics: memory });
    shared.push(encodeOnnx(m));
  }
  expect(memory.runs).toBe(1);
  for (const [i, text] of recipes.entries()) {
    const m = loadModel(path.join(FIX, 'cnn.onnx'));
    await applyPlan(m, parseRecipe(text, path.join(FIX, `r${i}.yaml`), FIX), { label: 'cnn.onnx' });
    expect(Buffer.from(encodeOnnx(m)).equals(Buffer.from(shared[i]))).toBe(true);
  }
  // The float model the clones came from is untouched.
  expect(Buffer.from(encodeOnnx(float)).equals(Buffer.from(encodeOnnx(loadModel(path.join(FIX, 'cnn.onnx')))))).toBe(true);
}, 120_000);

test('a variant with other calibration settings is calibrated on its own, not served stale statistics', async () => {
  const float = loadModel(path.join(FIX, 'cnn.onnx'));
  const memory = new StatisticsMemory();
  for (const samples of [256, 128, 256]) {
    const text = `steps:\n  - quantize: { calib: calib-x.npy, small-layers: int8, space-to-depth: off, calib-samples: ${samples} }\n`;
    await applyPlan(float.clone(), parseRecipe(text, path.join(FIX, 'r.yaml'), FIX), { label: 'cnn.onnx', statistics: memory });
  }
  expect(memory.runs).toBe(2);
}, 120_000);
