'use strict';
/**
 * The search seam of issue 11 (built library in dist/): twenty recipes applied to clones of one
 * in-memory model, each evaluated on the 1,000 eval images, with one calibration shared by every
 * static variant (StatisticsMemory) and one Evaluator (baseline outputs computed once).
 * Baseline measured in the same run: one plain `mc eval` of the float model (a process, as a user
 * runs it) and evaluate() of the float model in this process. Printed as ratios (aim ≤ 1.5×).
 * A prune-then-static variant changes the weights, so it calibrates once more (2 runs in all).
 * Static decisions are pinned (small-layers, space-to-depth) so the variants differ only by recipe.
 * `node bench/recipes.bench.js`
 */
const path = require('path');
const { loadModel } = require('../dist/formats/index.js');
const { Evaluator } = require('../dist/eval/index.js');
const { applyPlan, parseRecipe } = require('../dist/plan/index.js');
const { StatisticsMemory } = require('../dist/pipeline/static.js');
const { evalBaseline, median, FIX, CNN, DATA, LABELS } = require('./eval-baseline');

const pin = 'small-layers: int8, space-to-depth: off';
const RECIPES = [
  ...['minmax', 'entropy', 'mse'].map((m) => `steps:\n  - quantize: { calib: calib-x.npy, calib-method: ${m}, ${pin} }\n`),
  ...[99.9, 99.99, 99.999].map((p) => `steps:\n  - quantize: { calib: calib-x.npy, calib-method: percentile, percentile: ${p}, ${pin} }\n`),
  `steps:\n  - quantize: { calib: calib-x.npy, per-tensor: true, ${pin} }\n`,
  `steps:\n  - quantize: { calib: calib-x.npy, activation-type: uint8, ${pin} }\n`,
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: entropy, ${pin} }\n    exclude: ['conv1*']\n`,
  `steps:\n  - quantize: { calib: calib-x.npy, calib-method: mse, ${pin} }\n    exclude: ['logits*']\n`,
  'steps:\n  - quantize: { bits: 8 }\n',
  'steps:\n  - quantize: { bits: 4 }\n',
  'steps:\n  - quantize: { bits: 4, block-size: 16 }\n',
  'steps:\n  - quantize: { bits: 4, output-check: false }\n    layers: [conv2.weight]\n  - quantize: { bits: 8, output-check: false }\n    layers: [conv3.weight, fc1.weight]\n',
  'steps:\n  - quantize: { bits: 8, mode: dynamic }\n',
  'steps:\n  - quantize: { bits: 8, asymmetric: true }\n',
  'steps:\n  - prune: { sparsity: 0.5 }\n',
  'steps:\n  - prune: { sparsity: 0.5, pattern: "n:m" }\n    exclude: [conv1.weight]\n',
  'steps:\n  - prune: { sparsity: 0.25, pattern: channel }\n',
  `steps:\n  - prune: { sparsity: 0.5 }\n  - quantize: { calib: calib-x.npy, ${pin} }\n`,
];

(async () => {
  const { plainMs: base, inProcessMs: inProcMs } = await evalBaseline();
  console.log(`baseline: mc eval cnn.onnx on 1,000 images --runs 0: ${base} ms (median of 3 processes); evaluate() in process: ${inProcMs} ms`);

  const float = loadModel(CNN);
  const memory = new StatisticsMemory();
  let t0 = Date.now();
  const ev = await Evaluator.create({ baseline: float, baselineName: 'cnn.onnx', data: DATA, labels: LABELS, runs: 0 });
  const setup = Date.now() - t0;
  const times = [];
  const rows = [];
  try {
    for (const [i, text] of RECIPES.entries()) {
      t0 = Date.now();
      const m = float.clone();
      await applyPlan(m, parseRecipe(text, path.join(FIX, `variant-${i}.yaml`), FIX), { label: 'cnn.onnx', statistics: memory });
      const t1 = Date.now();
      const r = await ev.evaluate(m, { name: `variant-${i}` });
      const t = Date.now() - t0;
      times.push(t);
      rows.push(`  ${String(i).padStart(2)} ${String(t).padStart(5)} ms (apply ${String(t1 - t0).padStart(4)} ms)  top-1 ${(r.candidate.accuracy.top1 * 100).toFixed(1)}%  ${String(r.candidate.size.bytes).padStart(7)} B  ${text.replace(/\n\s*/g, ' ').replace(/^steps: - /, '').slice(0, 90)}`);
    }
  } finally {
    await ev.dispose();
  }
  console.log(rows.join('\n'));
  const per = median(times);
  const mean = times.reduce((s, x) => s + x, 0) / times.length;
  console.log(`Evaluator.create (float outputs once): ${setup} ms; calibration runs for ${RECIPES.filter((r) => r.includes('calib')).length} static variants: ${memory.runs}`);
  console.log(`per variant (clone + applyPlan + evaluate, ${RECIPES.length} recipes): median ${per} ms, mean ${mean.toFixed(0)} ms`);
  console.log(`  ratio per variant / plain mc eval: ${(per / base).toFixed(2)}x median, ${(mean / base).toFixed(2)}x mean (aim ≤ 1.5x)`);
  console.log(`  ratio per variant / evaluate() in process: ${(per / inProcMs).toFixed(2)}x median, ${(mean / inProcMs).toFixed(2)}x mean`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
