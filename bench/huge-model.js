'use strict';
/**
 * The huge bench's model (not a bench itself): x[batch, d] → layers × (MatMul d×d → Relu) → y,
 * float32 weights in one external-data file beside the model. The weights are lazy tensors
 * generated one at a time while saveOnnx streams them out, so building the 3 GiB model needs
 * about one tensor of memory. Values: mulberry32 in ±0.05 (bench/quantize-model.js rand),
 * seed = layer + 1.
 */
const path = require('path');
const { rand } = require('./quantize-model');

function hugeModel(dist, layers, d) {
  const mc = require(path.join(dist, 'api.js'));
  const g = new mc.Graph();
  g.name = 'huge';
  let cur = new mc.Value('x', { dtype: 'float32', shape: ['batch', d] });
  g.inputs.push(cur);
  for (let l = 0; l < layers; l++) {
    const data = { kind: 'lazy', byteLength: d * d * 4, load: () => new Uint8Array(rand(d * d, l + 1).buffer) };
    const w = g.addInitializer(`w${l}`, new mc.Tensor('float32', [d, d], data, `w${l}`));
    const h = new mc.Value(`h${l}`, { dtype: 'float32' });
    const r = new mc.Value(l === layers - 1 ? 'y' : `r${l}`, { dtype: 'float32' });
    g.addNode(new mc.Node({ opType: 'MatMul', name: `mm${l}`, inputs: [cur, w], outputs: [h] }));
    g.addNode(new mc.Node({ opType: 'Relu', name: `relu${l}`, inputs: [h], outputs: [r] }));
    cur = r;
  }
  g.outputs.push(cur);
  const m = new mc.Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

/** Writes `file` and `file.data` (every weight external). */
function writeHugeModel(dist, file, layers, d) {
  const { saveOnnx } = require(path.join(dist, 'formats', 'onnx'));
  saveOnnx(hugeModel(dist, layers, d), file, { externalData: true });
}

module.exports = { hugeModel, writeHugeModel };
