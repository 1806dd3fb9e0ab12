#!/usr/bin/env node
/**
 * Runs a reference model and other models on the same seeded inputs in
 * onnxruntime-node and prints each output's SQNR against the reference, the
 * output types, and the file sizes.
 *   node scripts/float16/compare.js 'ref.onnx' 'input=1x512:state=2x1x128:sr=i64;16000' other.onnx...
 * Inputs as in measure.js (float inputs uniform [0, 1), 'state' zeros, '@text' pages);
 * float16 model inputs get the same values rounded to float16.
 */
const fs = require('fs');
const ort = require('onnxruntime-node');
const { floatToHalf } = require('../../dist/ir');
const { feedsFromSpec, sqnr, toFloat } = require('./inputs');

async function runModel(file, f) {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const types = Object.fromEntries((s.inputMetadata ?? []).map((m) => [m.name, m.type]));
  const feed = {};
  for (const [k, v] of Object.entries(f)) {
    if (v instanceof ort.Tensor) feed[k] = v;
    else if (types[k] === 'float16') feed[k] = new ort.Tensor('float16', Uint16Array.from(v, floatToHalf), v.dims);
    else feed[k] = new ort.Tensor('float32', v, v.dims);
  }
  const y = await s.run(feed);
  const out = Object.fromEntries(s.outputNames.map((n) => [n, y[n]]));
  await s.release();
  return out;
}

(async () => {
  const [ref, spec, ...others] = process.argv.slice(2);
  const f = feedsFromSpec(spec.split(':'));
  const yr = await runModel(ref, f);
  const size = (p) => fs.statSync(p).size;
  console.log(`${ref}: ${size(ref)} bytes; outputs ${Object.entries(yr).map(([k, t]) => `${k}:${t.type}`).join(' ')}`);
  for (const o of others) {
    const yo = await runModel(o, f);
    console.log(`${o}: ${size(o)} bytes (${(size(o) / size(ref)).toFixed(3)}x); ` +
      Object.keys(yr).map((k) => `${k}:${yo[k].type} ${sqnr(toFloat(yr[k]), toFloat(yo[k])).toFixed(1)} dB`).join(', '));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
