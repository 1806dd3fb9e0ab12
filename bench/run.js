'use strict';
/**
 * `npm run bench`: runs every bench/*.bench.js file in its own Node process
 * (so peak-RSS numbers are per benchmark), in name order. Each prints its own
 * numbers. Benchmarks use the built library in dist/: run `npm run build` first.
 * Pass names to run a subset: `node bench/run.js quantize`.
 * Heavy benches (HEAVY: the 3 GiB huge-model bench) run only when named:
 * `npm run bench -- huge`.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const dir = __dirname;
if (!fs.existsSync(path.join(dir, '..', 'dist', 'api.js'))) {
  console.error('bench: dist/ is missing; run `npm run build` first');
  process.exit(2);
}
const only = process.argv.slice(2);
const HEAVY = ['huge.bench.js'];
const files = fs.readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => (only.length === 0 ? !HEAVY.includes(f) : only.some((o) => f.includes(o))))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench: ${f} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed ? 1 : 0);
