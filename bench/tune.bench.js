'use strict';
/**
 * mc tune's throughput with worker threads (issue 14: with 2 workers, trials per minute at
 * least 1.6× one worker's). Built library (dist/): the same evolve search on fixtures/ds-cnn.onnx
 * (int4-b128/int4/int8/float, --max-trials 60, population 16, seed 0) with 1 and 2 workers,
 * alternating, 2 rounds each. Trials per minute counts from the first trial's end to the last's,
 * so the workers' start-up (each opens the model and data) is reported separately, not averaged in.
 * The machine's load is printed: on a shared 2-core machine two workers compete with everything else.
 * `node bench/tune.bench.js [rounds]`
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { tune } = require('../dist/search/index.js');

const ROOT = path.join(__dirname, '..');
const FIX = path.join(ROOT, 'fixtures');
const rounds = Number(process.argv[2] ?? 2);

async function once(workers) {
  const log = path.join(os.tmpdir(), `mc-tune-bench-${process.pid}-${workers}.jsonl`);
  const t0 = Date.now();
  const ends = [];
  const run = await tune({
    model: path.join(FIX, 'ds-cnn.onnx'), data: path.join(FIX, 'eval-x.npy'), labels: path.join(FIX, 'eval-y.npy'),
    constraint: { maxAccuracyDrop: 0.5 }, space: ['quantize'], options: ['int4-b128', 'int4', 'int8', 'float'], sparsities: [],
    strategy: 'evolve', sizeMeasure: 'weights', maxTrials: 60, seed: 0, subset: 1, population: 16, workers,
    log, resume: false, sensitivityOnly: false,
  }, { onTrial: () => ends.push(Date.now()) });
  fs.rmSync(log, { force: true });
  const span = ends[ends.length - 1] - ends[0];
  return { workers, trials: run.trials.length, perMinute: ((ends.length - 1) / span) * 60_000, firstTrialMs: ends[0] - t0, totalMs: Date.now() - t0 };
}

(async () => {
  console.log(`cpus ${os.cpus().length} (${os.cpus()[0].model}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const by = { 1: [], 2: [] };
  for (let r = 0; r < rounds; r++) {
    for (const w of [1, 2]) {
      const x = await once(w);
      by[w].push(x.perMinute);
      console.log(`  round ${r + 1}, ${w} worker(s): ${x.trials} trials, ${x.perMinute.toFixed(0)} trials/min, first trial after ${x.firstTrialMs} ms, total ${(x.totalMs / 1000).toFixed(1)} s`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const one = median(by[1]);
  const two = median(by[2]);
  console.log(`trials/min: 1 worker ${one.toFixed(0)}, 2 workers ${two.toFixed(0)}: ${(two / one).toFixed(2)}x (aim ≥ 1.6x); load average now ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
