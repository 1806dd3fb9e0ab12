'use strict';
/**
 * One quantize run in a fresh process: load + quantize + save through the
 * same code as `mc quantize` (ORT self-check off, as the CLI does above
 * 100 MiB). Prints one JSON line with wall time and peak RSS.
 */
const path = require('path');
const { quantizeFile } = require(path.join(__dirname, '..', 'dist', 'cli', 'commands', 'quantize.js'));
const { resolveQuantizeOptions } = require(path.join(__dirname, '..', 'dist', 'passes'));

async function main() {
  const [input, output, bits] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  const r = await quantizeFile({
    input, output, quantize: resolveQuantizeOptions({ bits: Number(bits) }),
    granularityGiven: false, verify: 'off', force: true, json: true,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ seconds, maxRssBytes, sizeBefore: r.sizeBefore, sizeAfter: r.sizeAfter, tensors: r.report.tensors.length }));
}
main().catch((e) => { console.error(e); process.exit(1); });
