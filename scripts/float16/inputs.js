'use strict';
/**
 * The input specs, seeded values and SQNR that scripts/float16/measure.js and compare.js share.
 * spec: 'name=1x3x320x320:other=2x1x128:sr=i64;16000'. Float inputs get seeded uniform values in
 * [0, 1) (seed 1, in spec order), inputs named 'state' zeros; dims ending in '@text' get a synthetic
 * page of dark text lines on white normalised with the ImageNet mean/std; 'i64;V' is an int64 scalar V.
 */
const ort = require('onnxruntime-node');
const { halfToFloat } = require('../../dist/ir');
const { mulberry32 } = require('../fixtures/prng');

/** name → Float32Array with a `dims` property, or an int64 ort.Tensor. */
function feedsFromSpec(parts) {
  const next = mulberry32(1);
  const out = {};
  for (const i of parts.filter(Boolean)) {
    const [name, d] = i.split('=');
    if (d.startsWith('i64')) { out[name] = new ort.Tensor('int64', BigInt64Array.from([BigInt(d.split(';')[1])]), []); continue; }
    const text = d.endsWith('@text');
    const dims = d.replace('@text', '').split('x').map(Number);
    const [h, w] = dims.slice(-2);
    const page = (k) => {
      const y = Math.floor(k / w) % h;
      const x = k % w;
      const ink = ((y >> 4) & 1) === 1 && y % 16 > 4 && y % 16 < 13 && x % 3 !== 0;
      return ((ink ? 0 : 1) - 0.485) / 0.229;
    };
    out[name] = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, k) => (name === 'state' ? 0 : text ? page(k) : next()));
    out[name].dims = dims;
  }
  return out;
}

function sqnr(ref, got) {
  let s = 0, e = 0;
  for (let i = 0; i < ref.length; i++) { s += ref[i] * ref[i]; e += (ref[i] - got[i]) ** 2; }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

const toFloat = (t) => (t.type === 'float16' ? Float32Array.from(t.data, halfToFloat) : Float32Array.from(t.data, Number));

module.exports = { feedsFromSpec, sqnr, toFloat };
