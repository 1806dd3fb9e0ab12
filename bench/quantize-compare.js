'use strict';
/**
 * Before/after comparison of quantize throughput on a shared machine: runs
 * bench/quantize-phases-child.js against two builds of mc, interleaved
 * (A, B, A, B, …) so both see the same load, and prints the median of each
 * phase, total wall time, CPU time and peak RSS.
 *   node bench/quantize-compare.js DIST_A DIST_B [MODEL.onnx] [repeats=3]
 * DIST_* are dist/ folders (e.g. dist/ built from the old commit, copied with
 * package.json beside it).
 * Without MODEL the 256 MiB bench model (16 × MatMul 2048×2048) is generated
 * with DIST_B. The outputs of A and B are compared byte for byte.
 */
const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { generateBenchModel, median } = require('./quantize-model');

const MiB = 1024 * 1024;

function runChild(dist, input, output, bits) {
  const line = execFileSync(process.execPath, [path.join(__dirname, 'quantize-phases-child.js'), input, output, String(bits)], {
    // NODE_PATH: a dist/ copy outside the checkout still finds this checkout's node_modules.
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MC_DIST: path.resolve(dist), NODE_PATH: path.join(__dirname, '..', 'node_modules') },
  });
  const r = JSON.parse(line.trim().split('\n').pop());
  r.sha256 = crypto.createHash('sha256').update(fs.readFileSync(output)).digest('hex');
  fs.rmSync(output, { force: true });
  return r;
}

function main() {
  const [distA, distB, model, rep] = process.argv.slice(2);
  if (!distA || !distB) {
    console.error('usage: node bench/quantize-compare.js DIST_A DIST_B [MODEL.onnx] [repeats]');
    process.exit(2);
  }
  const repeats = Number(rep ?? 3);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-qcmp-'));
  try {
    const input = model ?? path.join(tmp, 'big.onnx');
    if (!model) generateBenchModel(path.resolve(distB), input);
    const size = fs.statSync(input).size;
    console.log(`model ${(size / MiB).toFixed(1)} MiB, ${repeats} interleaved runs each; medians, seconds (MiB/s of the float32 model)`);
    for (const bits of [8, 4]) {
      const runs = { A: [], B: [] };
      for (let i = 0; i < repeats; i++) {
        for (const [k, d] of [['A', distA], ['B', distB]]) runs[k].push(runChild(d, input, path.join(tmp, `out-${k}.onnx`), bits));
      }
      const same = runs.A.every((r) => r.sha256 === runs.B[0].sha256) && runs.B.every((r) => r.sha256 === runs.B[0].sha256);
      console.log(`int${bits}: outputs of A and B ${same ? 'byte-identical' : 'DIFFER'} (sha256 ${runs.B[0].sha256.slice(0, 16)}…)`);
      const phases = Object.keys(runs.A[0].phases);
      console.log(`  ${''.padEnd(3)}${phases.map((p) => p.padStart(10)).join('')}${'wall'.padStart(10)}${'MiB/s'.padStart(8)}${'CPU'.padStart(8)}${'MiB/s'.padStart(8)}${'RSS×'.padStart(7)}`);
      for (const k of ['A', 'B']) {
        const rs = runs[k];
        const wall = median(rs.map((r) => r.seconds));
        const cpu = median(rs.map((r) => r.cpuSeconds));
        const cells = phases.map((p) => median(rs.map((r) => r.phases[p])).toFixed(3).padStart(10)).join('');
        const rss = median(rs.map((r) => r.maxRssBytes)) / size;
        console.log(`  ${k.padEnd(3)}${cells}${wall.toFixed(3).padStart(10)}${(size / MiB / wall).toFixed(0).padStart(8)}${cpu.toFixed(3).padStart(8)}${(size / MiB / cpu).toFixed(0).padStart(8)}${rss.toFixed(2).padStart(7)}`);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
main();
