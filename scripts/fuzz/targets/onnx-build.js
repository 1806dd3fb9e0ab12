'use strict';
/** Small seed ONNX messages built through mc's own protobuf schema, and structure-aware edits of them. */
const { dist, HOSTILE_INTS, HOSTILE_PATHS } = require('./common');
const { concat, varint } = require('../mutate');

const proto = () => dist('formats/onnx/schema').proto;
const f32 = (xs) => new Uint8Array(Float32Array.from(xs).buffer);

function tensorInfo(name, elem, dims) {
  return { name, type: { tensor_type: { elem_type: elem, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } } };
}

/** Y = If(cond) { Relu(X·W + B) } else { Constant } with float, int64, float16 and string tensors. */
function seedModel() {
  const thenGraph = {
    name: 'then', node: [
      { op_type: 'MatMul', input: ['X', 'W'], output: ['xw'] },
      { op_type: 'Add', input: ['xw', 'B'], output: ['xwb'] },
      { op_type: 'Relu', input: ['xwb'], output: ['y_then'] },
    ],
    output: [tensorInfo('y_then', 1, [1, 3])],
  };
  const elseGraph = {
    name: 'else', node: [{ op_type: 'Constant', output: ['y_else'], attribute: [{ name: 'value', type: 4, t: { data_type: 1, dims: [1, 3], float_data: [1, 2, 3] } }] }],
    output: [tensorInfo('y_else', 1, [1, 3])],
  };
  return {
    ir_version: 8, producer_name: 'mc-fuzz', opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      input: [tensorInfo('X', 1, ['N', 4]), tensorInfo('cond', 9, [])],
      output: [tensorInfo('Y', 1, [1, 3])],
      initializer: [
        { name: 'W', data_type: 1, dims: [4, 3], raw_data: f32([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2]) },
        { name: 'B', data_type: 1, dims: [3], float_data: [0.5, -0.5, 0] },
        { name: 'shape', data_type: 7, dims: [2], int64_data: [1, 3] },
        { name: 'h', data_type: 10, dims: [2], int32_data: [0x3c00, 0x4000] },
        { name: 's', data_type: 8, dims: [2], string_data: [Buffer.from('a'), Buffer.from('bc')] },
        { name: 'q', data_type: 22, dims: [5], raw_data: Uint8Array.from([0x21, 0x43, 0x05]) },
      ],
      node: [
        { op_type: 'If', input: ['cond'], output: ['Y'], attribute: [{ name: 'then_branch', type: 5, g: thenGraph }, { name: 'else_branch', type: 5, g: elseGraph }] },
      ],
      sparse_initializer: [{ values: { name: 'sp', data_type: 1, dims: [2], float_data: [1, 2] }, indices: { data_type: 7, dims: [2], int64_data: [0, 3] }, dims: [4] }],
    },
  };
}

function encodeModel(obj) {
  const P = proto().ModelProto;
  return new Uint8Array(P.encode(P.fromObject(obj)).finish()); // a copy: protobufjs writes small messages into a shared pool
}

function decodeModel(bytes) {
  const P = proto().ModelProto;
  return P.toObject(P.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}

/** Every TensorProto object in a decoded model object (initializers, attributes, sparse parts, subgraphs). */
function tensorsOf(m) {
  const out = [];
  const graph = (g) => {
    if (!g) return;
    for (const t of g.initializer ?? []) out.push(t);
    for (const s of g.sparse_initializer ?? []) { if (s.values) out.push(s.values); if (s.indices) out.push(s.indices); }
    for (const n of g.node ?? []) for (const a of n.attribute ?? []) {
      if (a.t) out.push(a.t);
      for (const t of a.tensors ?? []) out.push(t);
      graph(a.g);
      for (const sg of a.graphs ?? []) graph(sg);
    }
  };
  graph(m.graph);
  return out;
}

/** A model whose graph nests `depth` If subgraphs, written by hand (inside out) so no encoder recursion is needed. */
const nestedCache = new Map();
function nestedModel(depth) {
  if (!nestedCache.has(depth)) nestedCache.set(depth, buildNested(depth));
  return nestedCache.get(depth);
}

function buildNested(depth) {
  const field = (no, payload) => concat([varint(BigInt((no << 3) | 2)), varint(BigInt(payload.length)), payload]);
  const str = (no, s) => field(no, Buffer.from(s));
  let graph = concat([str(2, 'leaf')]);
  for (let k = 0; k < depth; k++) {
    const attr = concat([str(1, 'then_branch'), varint(BigInt((20 << 3) | 0)), varint(5n), field(6, graph)]);
    const node = concat([str(4, 'If'), str(1, 'c'), field(5, attr)]);
    graph = concat([field(1, node), str(2, `g${k}`)]);
  }
  return concat([varint(BigInt((1 << 3) | 0)), varint(8n), field(7, graph)]);
}

/** A structure-aware edit of one tensor: dims, dtype, data fields, external-data entries. */
function editTensor(r, t) {
  switch (r.int(9)) {
    case 0: t.dims = Array.from({ length: 1 + r.int(4) }, () => r.pick(HOSTILE_INTS)); break;
    case 1: t.dims = [r.pick([65536, 1 << 20, 2 ** 26]), r.pick([65536, 1 << 20, 2 ** 26]), r.pick([65536, 2 ** 26])]; break; // product overflows 2^53
    case 2: t.data_type = r.pick([0, 17, 24, 25, 26, 99, 1000, -1, 2 ** 31 - 1]); break;
    case 3: t.data_type = r.pick([1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 16, 21, 22]); break; // valid, but disagrees with the data
    case 4: if (t.raw_data) t.raw_data = t.raw_data.slice(0, r.int(t.raw_data.length + 1)); else t.raw_data = Array.from({ length: r.int(40) }, () => r.int(256)); break;
    case 5: for (const k of ['float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data', 'string_data']) delete t[k]; break;
    case 6: t[r.pick(['float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data'])] = Array.from({ length: r.int(7) }, () => r.pick(HOSTILE_INTS)); break;
    case 7: t.dims = (t.dims ?? []).map((d) => d * r.pick([0, 2, 1000])); break;
    default: externalRef(r, t);
  }
}

/** Points a tensor at external data, with a hostile location, offset or length now and then. */
function externalRef(r, t, location = 'data.bin') {
  t.data_location = 1;
  delete t.raw_data;
  const e = [{ key: 'location', value: r.chance(0.5) ? r.pick(HOSTILE_PATHS) : location }];
  if (r.chance(0.6)) e.push({ key: 'offset', value: r.pick([String(r.pick(HOSTILE_INTS)), '0', '64', '-4', '1e3', ' 12', '0x10', '99999999999999999999']) });
  if (r.chance(0.6)) e.push({ key: 'length', value: r.pick([String(r.pick(HOSTILE_INTS)), '48', '0', '-1', '9223372036854775808']) });
  if (r.chance(0.2)) e.splice(0, 1);
  t.external_data = e;
}

module.exports = { seedModel, encodeModel, decodeModel, tensorsOf, nestedModel, editTensor, externalRef, f32, proto };
