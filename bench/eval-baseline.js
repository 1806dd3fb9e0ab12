'use strict';
/**
 * The baseline the in-memory benches (clone-eval, recipes) divide by, measured in the same run:
 * one plain `mc eval` of the float fixture CNN on the 1,000 eval images (bin/mc, a process of its
 * own, as a user runs it; --runs 0), and evaluate() of it in this process. Medians of 3.
 */
const path = require('path');
const { spawnSync } = require('child_process');
const { evaluate } = require('../dist/eval/index.js');

const ROOT = path.join(__dirname, '..');
const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const DATA = path.join(FIX, 'eval-x.npy');
const LABELS = path.join(FIX, 'eval-y.npy');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** { plainMs, inProcessMs }: `mc eval` as a process, and evaluate() in this process. */
async function evalBaseline() {
  const plain = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'mc'), 'eval', CNN, '--data', DATA, '--labels', LABELS, '--runs', '0', '--json', '-'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mc eval failed: ${r.stderr}`);
    plain.push(Date.now() - t0);
  }
  const inProc = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await evaluate({ candidate: CNN, data: DATA, labels: LABELS, runs: 0 });
    inProc.push(Date.now() - t0);
  }
  return { plainMs: median(plain), inProcessMs: median(inProc) };
}

module.exports = { evalBaseline, median, ROOT, FIX, CNN, DATA, LABELS };
