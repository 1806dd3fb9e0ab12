'use strict';
/** ONNX test-data TensorProto files (test_data_set_0/input_0.pb), read as a dataset (src/data/onnx-test-data.ts). */
const { dist } = require('./common');
const b = require('./onnx-build');

const MAIN = 'test_data_set_0/input_0.pb';

function encodeTensor(t) {
  const P = b.proto().TensorProto;
  return new Uint8Array(P.encode(P.fromObject(t)).finish());
}

function seeds() {
  const list = [
    { name: 'x', data_type: 1, dims: [2, 3], raw_data: b.f32([1, 2, 3, 4, 5, 6]) },
    { name: 'x', data_type: 1, dims: [2, 2], float_data: [1, 2, 3, 4] },
    { name: 'x', data_type: 7, dims: [3], int64_data: [1, -2, 3] },
    { name: 'x', data_type: 10, dims: [2, 2], raw_data: Uint8Array.from([0, 60, 0, 64, 0, 66, 0, 68]) },
    { name: 'x', data_type: 2, dims: [4, 1], int32_data: [1, 2, 3, 255] },
  ];
  return list.map((t) => ({ main: MAIN, files: { [MAIN]: encodeTensor(t), 'test_data_set_0/input_1.pb': encodeTensor({ ...t, name: 'y' }), 'test_data_set_0/data.bin': b.f32([1, 2, 3, 4, 5, 6]) } }));
}

function structured(r, input) {
  const P = b.proto().TensorProto;
  let t;
  try {
    t = P.toObject(P.decode(input.files[input.main]), { longs: Number, bytes: Array });
  } catch {
    return input;
  }
  for (let k = 1 + r.small(3); k > 0; k--) b.editTensor(r, t);
  let bytes;
  try {
    bytes = new Uint8Array(P.encode(P.fromObject(t)).finish());
  } catch {
    return input;
  }
  return { ...input, files: { ...input.files, [input.main]: bytes } };
}

function run(dir) {
  const { OnnxTestDataDataset } = dist('data/onnx-test-data');
  const ds = new OnnxTestDataDataset(dir);
  ds.describe();
  for (const batch of ds.batches(2)) for (const t of batch.inputs.values()) void t.data.length;
}

module.exports = { seeds, structured, run };
