/**
 * The search seam: many recipes applied to clones of one model in memory share one calibration
 * (StatisticsMemory), and each gives the same bytes as the recipe applied on its own.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../../src/formats';
import { encodeOnnx } from '../../src/formats/onnx';
import { intAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { applyPlan, parseRecipe } from '../../src/plan';
import { StatisticsMemory } from '../../src/pipeline/static';
import { ROOT, tempDir } from '../helpers/cli-run';
import { floats } from '../helpers/onnx-build';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { encodeNpy } = require('../../scripts/fixtures/npy') as { encodeNpy(a: Float32Array, shape: number[]): Uint8Array };

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

// paddle2onnx's flatten (PP-OCR's classifier): Shape → Cast to int64 → Reshape, with no types recorded for
// the int64 values. The shared calibration observes every float activation at once; it must not take those
// untyped int64 values for float ones (onnxruntime then refused the calibration model: every trial of
// `mc tune --space static` on that classifier failed).
test('shared calibration leaves out values the op type rules make non-float, and equals the run on its own', async () => {
  const m = new Model('onnx');
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  const g = m.graph;
  const x = new Value('x', { dtype: 'float32', shape: ['N', 4] });
  g.inputs.push(x);
  const w = g.addInitializer('w', Tensor.fromArray('float32', [4, 3], floats(12, 3), 'w'));
  const [y, s, c] = ['y', 's', 'c'].map((n) => new Value(n));
  const z = new Value('z', { dtype: 'float32', shape: ['N', 3] });
  g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
  g.addNode(new Node({ opType: 'Shape', name: 'shape', inputs: [y], outputs: [s] }));
  g.addNode(new Node({ opType: 'Cast', name: 'cast', inputs: [s], outputs: [c], attributes: [intAttr('to', 7)] }));
  g.addNode(new Node({ opType: 'Reshape', name: 'reshape', inputs: [y, c], outputs: [z] }));
  g.outputs.push(z);
  const dir = tempDir('statistics-memory-types');
  fs.writeFileSync(path.join(dir, 'c.npy'), encodeNpy(floats(64, 5), [16, 4]));
  const recipe = parseRecipe('steps:\n  - quantize: { calib: c.npy, small-layers: int8, space-to-depth: off }\n', path.join(dir, 'r.yaml'), dir);
  const memory = new StatisticsMemory();
  const shared = m.clone();
  const r = await applyPlan(shared, recipe, { label: 'flatten', statistics: memory });
  expect(r.results.some((x) => x.kind === 'static' && x.report.quantizedNodes.some((n) => n.name === 'mm'))).toBe(true);
  expect(memory.runs).toBe(1);
  const alone = m.clone();
  await applyPlan(alone, recipe, { label: 'flatten' });
  expect(Buffer.from(encodeOnnx(shared)).equals(Buffer.from(encodeOnnx(alone)))).toBe(true);
}, 60_000);
