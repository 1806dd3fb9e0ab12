'use strict';
/**
 * One quantize run in a fresh process: load + quantize + save through the
 * same code as `mc quantize --no-output-check` (src/pipeline/quantize.ts
 * quantizeFile with the onnxruntime self-check and the output check off: the
 * output check loads the whole model into onnxruntime, which is its cost,
 * not the quantizer's; bench/huge.bench.js turns it off too). Prints one
 * JSON line with wall time, CPU time and peak RSS.
 */
const path = require('path');
const { quantizeFile } = require(path.join(__dirname, '..', 'dist', 'pipeline', 'quantize.js'));
const { resolveQuantizeOptions } = require(path.join(__dirname, '..', 'dist', 'passes'));

async function main() {
  const [input, output, bits] = process.argv.slice(2);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await quantizeFile({ input, output, quantize: resolveQuantizeOptions({ bits: Number(bits) }), verify: false, outputCheck: false, force: true });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({
    seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssBytes,
    sizeBefore: r.size.before.bytes, sizeAfter: r.size.after.bytes, tensors: r.report.tensors.length,
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });
