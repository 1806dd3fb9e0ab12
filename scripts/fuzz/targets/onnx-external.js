'use strict';
/** ONNX external data references (location, offset, length) and the data file itself. */
const path = require('path');
const { dist, checkModel, HOSTILE_PATHS } = require('./common');
const b = require('./onnx-build');
const { mutateBytes } = require('../mutate');

const DATA = b.f32(Array.from({ length: 32 }, (_, i) => i / 8));

function seeds() {
  const m = b.seedModel();
  const [W, B] = m.graph.initializer;
  delete W.raw_data;
  W.data_location = 1;
  W.external_data = [{ key: 'location', value: 'data.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: '48' }];
  delete B.float_data;
  B.data_location = 1;
  B.external_data = [{ key: 'location', value: 'sub/more.bin' }, { key: 'offset', value: '64' }, { key: 'length', value: '12' }];
  return [{ main: 'model.onnx', files: { 'model.onnx': b.encodeModel(m), 'data.bin': DATA, 'sub/more.bin': DATA, link: { link: '/etc' }, 'sub/up': { link: '..' } } }];
}

function structured(r, input) {
  if (r.chance(0.25)) {
    // the data file is shorter or longer than the references say
    const name = r.pick(['data.bin', 'sub/more.bin']);
    return { ...input, files: { ...input.files, [name]: mutateBytes(r, input.files[name]) } };
  }
  const m = b.decodeModel(input.files[input.main]);
  const tensors = b.tensorsOf(m);
  for (let k = 1 + r.small(3); k > 0; k--) {
    const t = r.pick(tensors);
    if (r.chance(0.7)) b.externalRef(r, t, r.pick(['data.bin', 'sub/more.bin', 'sub/up/data.bin', ...HOSTILE_PATHS]));
    else b.editTensor(r, t);
  }
  return { ...input, files: { ...input.files, [input.main]: b.encodeModel(m) } };
}

function run(dir, main) {
  const { loadOnnx } = dist('formats/onnx');
  checkModel(loadOnnx(path.join(dir, main)));
}

module.exports = { seeds, structured, run };
