'use strict';
/** ONNX model protobuf: loadOnnx, then every tensor checked and read (src/formats/onnx). */
const path = require('path');
const { dist, checkModel } = require('./common');
const b = require('./onnx-build');

const DATA = b.f32(Array.from({ length: 32 }, (_, i) => i / 8));

function seeds() {
  const m = b.seedModel();
  const small = { ir_version: 3, graph: { node: [{ op_type: 'Relu', input: ['x'], output: ['y'] }], input: [{ name: 'x' }], output: [{ name: 'y' }] } };
  return [m, small].map((obj) => ({ main: 'model.onnx', files: { 'model.onnx': b.encodeModel(obj), 'data.bin': DATA, link: { link: '/etc' } } }));
}

function structured(r, input) {
  let m;
  try {
    m = b.decodeModel(input.files[input.main]);
  } catch {
    return input;
  }
  const choice = r.int(10);
  if (choice === 0) {
    return { ...input, files: { ...input.files, [input.main]: b.nestedModel(r.pick([50, 500, 5000, 10000])) } };
  }
  const tensors = b.tensorsOf(m);
  if (choice <= 6 && tensors.length) {
    for (let k = 1 + r.small(3); k > 0; k--) b.editTensor(r, r.pick(tensors));
  } else if (choice === 7) {
    // attributes with unknown or mismatched type codes
    const nodes = m.graph?.node ?? [];
    if (nodes.length) {
      const n = r.pick(nodes);
      n.attribute = [...(n.attribute ?? []), { name: 'x', type: r.pick([0, 5, 10, 15, 99, -1]), ints: [r.int(5)], g: r.chance(0.5) ? {} : undefined }];
    }
  } else if (choice === 8) {
    // value infos with hostile shapes and unknown element types
    const g = m.graph ?? (m.graph = {});
    g.value_info = [{ name: 'Y', type: { tensor_type: { elem_type: r.pick([0, 99, -5]), shape: { dim: [{ dim_value: r.pick([-1, 2 ** 53, 0]) }] } } } }];
  } else {
    // duplicate and dangling names
    const g = m.graph ?? (m.graph = {});
    g.initializer = [...(g.initializer ?? []), ...(g.initializer ?? []).slice(0, 1)];
    g.output = [...(g.output ?? []), { name: 'nowhere' }, { name: '' }];
  }
  let bytes;
  try {
    bytes = b.encodeModel(m);
  } catch {
    return input;
  }
  return { ...input, files: { ...input.files, [input.main]: bytes } };
}

function run(dir, main) {
  const { loadOnnx } = dist('formats/onnx');
  checkModel(loadOnnx(path.join(dir, main)));
}

module.exports = { seeds, structured, run };
