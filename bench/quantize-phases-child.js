'use strict';
/**
 * One quantize run in a fresh process, timed phase by phase. Same steps as
 * `mc quantize` (quantizeFile with verify off) but called one at a time:
 *   read    fs.readFileSync of the model file
 *   decode  protobuf → IR (decodeOnnx)
 *   quantize the quantize pass (range, scales, rounding, SQNR, packing/relayout, edits)
 *   encode  IR → protobuf bytes (encodeModel)
 *   write   atomic write of those bytes
 * Prints one JSON line: wall seconds per phase, total wall and CPU (user +
 * system) seconds, peak RSS. On a shared machine CPU time is the steadier
 * number: wall time also counts waiting for a core.
 * Usage: node bench/quantize-phases-child.js IN.onnx OUT.onnx BITS
 */
const fs = require('fs');
const path = require('path');
const dist = process.env.MC_DIST || path.join(__dirname, '..', 'dist');
const { decodeOnnx, encodeOnnx } = require(path.join(dist, 'formats', 'onnx'));
const { quantizePass, resolveQuantizeOptions, runPass } = require(path.join(dist, 'passes'));
const { writeFileAtomic } = require(path.join(dist, 'util', 'atomic.js'));
const { VERSION } = require(path.join(dist, 'version.js'));

function main() {
  const [input, output, bits] = process.argv.slice(2);
  const phases = {};
  const cpu0 = process.cpuUsage();
  let t = process.hrtime.bigint();
  const lap = (name) => {
    const now = process.hrtime.bigint();
    phases[name] = Number(now - t) / 1e9;
    t = now;
  };
  const bytes = fs.readFileSync(input);
  lap('read');
  const model = decodeOnnx(bytes, { file: input, baseDir: path.dirname(path.resolve(input)) });
  lap('decode');
  runPass(quantizePass(resolveQuantizeOptions({ bits: Number(bits) })), model, { toolVersion: VERSION });
  lap('quantize');
  const out = encodeOnnx(model);
  lap('encode');
  writeFileAtomic(output, out);
  lap('write');
  const seconds = Object.values(phases).reduce((a, b) => a + b, 0);
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ phases, seconds, cpuSeconds, maxRssBytes, sizeAfter: out.byteLength }));
}
main();
