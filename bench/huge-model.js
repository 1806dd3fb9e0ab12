'use strict';
/**
 * The huge bench's model (not a bench itself): x[batch, d] → layers × (MatMul d×d → Relu) → y,
 * float32 weights in one external-data file beside the model. The weights are lazy tensors
 * generated one at a time while saveOnnx streams them out, so building the 3 GiB model needs
 * about one tensor of memory. Values: mulberry32 in ±0.05 (bench/quantize-model.js rand),
 * seed = layer + 1.
 */
const path = require('path');
const { matmulStack, rand } = require('./quantize-model');

function hugeModel(dist, layers, d) {
  const lazy = (mc, l) => new mc.Tensor('float32', [d, d], { kind: 'lazy', byteLength: d * d * 4, load: () => new Uint8Array(rand(d * d, l + 1).buffer) }, `w${l}`);
  const m = matmulStack(dist, layers, d, lazy);
  m.graph.name = 'huge';
  return m;
}

/** Writes `file` and `file.data` (every weight external). */
function writeHugeModel(dist, file, layers, d) {
  const { saveOnnx } = require(path.join(dist, 'formats', 'onnx'));
  saveOnnx(hugeModel(dist, layers, d), file, { externalData: true });
}

module.exports = { hugeModel, writeHugeModel };

/**
 * One MatMul x[b, k] · w[k, n] whose float32 weight (k·n·4 bytes, may exceed 2 GiB) is written
 * to `file.data` 64 MiB at a time (values: rand, seed per chunk), the model file referring to it
 * by hand, so building it never holds the tensor.
 */
function writeBigTensorModel(dist, file, k, n) {
  const fs = require('fs');
  const mc = require(path.join(dist, 'api.js'));
  const { encodeModel } = require(path.join(dist, 'formats', 'onnx', 'codec.js'));
  const bytes = k * n * 4;
  const dataName = `${path.basename(file)}.data`;
  const fd = fs.openSync(path.join(path.dirname(file), dataName), 'w');
  const chunk = 16 * 1024 * 1024; // floats
  for (let i = 0, done = 0; done < k * n; i++) {
    const m = Math.min(chunk, k * n - done);
    fs.writeSync(fd, rand(m, 1000 + i));
    done += m;
  }
  fs.closeSync(fd);
  const g = new mc.Graph();
  g.name = 'big-tensor';
  const x = new mc.Value('x', { dtype: 'float32', shape: ['batch', k] });
  g.inputs.push(x);
  const w = g.addInitializer('w', new mc.Tensor('float32', [k, n], { kind: 'lazy', byteLength: bytes, load: () => { throw new Error('not read'); } }, 'w'));
  const y = new mc.Value('y', { dtype: 'float32' });
  g.addNode(new mc.Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
  g.outputs.push(y);
  const model = new mc.Model('onnx', g);
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: 13 }];
  const ref = [{ key: 'location', value: dataName }, { key: 'offset', value: '0' }, { key: 'length', value: String(bytes) }];
  fs.writeFileSync(file, encodeModel(model, { externalize: () => ref }));
  return bytes;
}

module.exports.writeBigTensorModel = writeBigTensorModel;
