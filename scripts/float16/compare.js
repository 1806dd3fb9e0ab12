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
const { floatToHalf, halfToFloat } = require('../../dist/ir');

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const sqnr = (r, g) => { let s = 0, e = 0; for (let i = 0; i < r.length; i++) { s += r[i] * r[i]; e += (r[i] - g[i]) ** 2; } return e === 0 ? Infinity : 10 * Math.log10(s / e); };
const toFloat = (t) => (t.type === 'float16' ? Float32Array.from(t.data, halfToFloat) : Float32Array.from(t.data, Number));

function feeds(spec) {
  const next = rng(1);
  const out = {};
  for (const i of spec.split(':').filter(Boolean)) {
    const [name, d] = i.split('=');
    if (d.startsWith('i64')) { out[name] = new ort.Tensor('int64', BigInt64Array.from([BigInt(d.split(';')[1])]), []); continue; }
    const text = d.endsWith('@text');
    const dims = d.replace('@text', '').split('x').map(Number);
    const [h, w] = dims.slice(-2);
    const page = (k) => { const y = Math.floor(k / w) % h; const x = k % w; const ink = ((y >> 4) & 1) === 1 && y % 16 > 4 && y % 16 < 13 && x % 3 !== 0; return ((ink ? 0 : 1) - 0.485) / 0.229; };
    out[name] = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, k) => (name === 'state' ? 0 : text ? page(k) : next()));
    out[name].dims = dims;
  }
  return out;
}

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
  const f = feeds(spec);
  const yr = await runModel(ref, f);
  const size = (p) => fs.statSync(p).size;
  console.log(`${ref}: ${size(ref)} bytes; outputs ${Object.entries(yr).map(([k, t]) => `${k}:${t.type}`).join(' ')}`);
  for (const o of others) {
    const yo = await runModel(o, f);
    console.log(`${o}: ${size(o)} bytes (${(size(o) / size(ref)).toFixed(3)}x); ` +
      Object.keys(yr).map((k) => `${k}:${yo[k].type} ${sqnr(toFloat(yr[k]), toFloat(yo[k])).toFixed(1)} dB`).join(', '));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
