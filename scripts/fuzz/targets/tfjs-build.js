'use strict';
/** Small seed tfjs models (graph-model and layers-model) and structure-aware JSON edits. */
const { HOSTILE_INTS, HOSTILE_PATHS, u8 } = require('./common');

const f32 = (xs) => new Uint8Array(Float32Array.from(xs).buffer);
const SHARD = 'group1-shard1of1.bin';

function strings(list) {
  const parts = [];
  for (const s of list) {
    const b = Buffer.from(s);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  }
  return new Uint8Array(Buffer.concat(parts));
}

function graphModel() {
  const shape = (dims) => ({ dim: dims.map((d) => ({ size: String(d) })) });
  const json = {
    format: 'graph-model', generatedBy: 'fuzz', convertedBy: 'fuzz',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { shape: { shape: shape([-1, 4]) }, dtype: { type: 'DT_FLOAT' } } },
        { name: 'W', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: shape([4, 3]) } }, dtype: { type: 'DT_FLOAT' } } },
        { name: 'B', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: shape([3]) } }, dtype: { type: 'DT_FLOAT' } } },
        { name: 'mm', op: 'MatMul', input: ['x', 'W'], attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'ba', op: 'BiasAdd', input: ['mm', 'B'], attr: { T: { type: 'DT_FLOAT' }, data_format: { s: 'TkhXQw==' } } },
        { name: 'y', op: 'Relu', input: ['ba'], attr: { T: { type: 'DT_FLOAT' } } },
      ],
      library: {}, versions: { producer: 1 },
    },
    weightsManifest: [{
      paths: [SHARD],
      weights: [
        { name: 'W', shape: [4, 3], dtype: 'float32' },
        { name: 'B', shape: [3], dtype: 'float32' },
        { name: 'q', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.01, original_dtype: 'float32' } },
        { name: 'h', shape: [2], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } },
        { name: 'i', shape: [2], dtype: 'int32' },
        { name: 's', shape: [2], dtype: 'string' },
      ],
    }],
  };
  const shard = Buffer.concat([f32(Array.from({ length: 15 }, (_, i) => i / 10)), Uint8Array.from([0, 10, 200, 255]), Uint8Array.from([0, 60, 0, 64]), new Uint8Array(Int32Array.from([7, -7]).buffer), strings(['ab', 'c'])]);
  return { main: 'model.json', files: { 'model.json': u8(JSON.stringify(json)), [SHARD]: new Uint8Array(shard), link: { link: '/etc' } } };
}

function layersModel() {
  const json = {
    format: 'layers-model', generatedBy: 'fuzz', convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: 'seq', layers: [{ class_name: 'Dense', config: { name: 'dense', units: 3, activation: 'relu', use_bias: true, batch_input_shape: [null, 4], dtype: 'float32' } }] },
      keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights: [{ name: 'dense/kernel', shape: [4, 3], dtype: 'float32' }, { name: 'dense/bias', shape: [3], dtype: 'float32' }] }],
  };
  const all = f32(Array.from({ length: 15 }, (_, i) => i - 7));
  return { main: 'model.json', files: { 'model.json': u8(JSON.stringify(json)), 'a.bin': all.slice(0, 20), 'b.bin': all.slice(20), link: { link: '/etc' } } };
}

const HOSTILE_JSON = [null, true, 0, -1, 1.5, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, '', 'x', '../x', [], {}, [[]], { a: 1 }, [-1], ['1'], 'float64', 'DT_INVALID'];

/** All [parent, key] slots in a JSON tree. */
function slots(v, out = []) {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([v, i]); slots(x, out); });
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) { out.push([v, k]); slots(v[k], out); }
  return out;
}

const NEST = '__fuzz_nest__';

/** JSON text of `json`, with each nesting marker expanded to that many nested arrays. */
function jsonText(json) {
  return JSON.stringify(json).replace(new RegExp(`\\{"${NEST}":(\\d+)\\}`, 'g'), (_, d) => `${'['.repeat(Number(d))}0${']'.repeat(Number(d))}`);
}

/** Edits the model.json tree: one slot replaced, removed or nested deep, or a manifest entry made hostile. */
function editJson(r, json) {
  const manifest = Array.isArray(json.weightsManifest) ? json.weightsManifest : [];
  const group = manifest[0] && typeof manifest[0] === 'object' ? manifest[0] : undefined;
  const entries = (group && Array.isArray(group.weights) ? group.weights : []).filter((e) => e && typeof e === 'object');
  switch (r.int(8)) {
    case 0: case 1: { // a manifest entry's shape or dtype
      const e = r.pick(entries);
      if (!e) break;
      if (r.chance(0.6)) e.shape = Array.from({ length: 1 + r.int(3) }, () => r.pick([...HOSTILE_INTS, 65536, 1 << 30]));
      else e.dtype = r.pick(['float64', 'int64', 'complex64', 'string', 'bool', 'uint8', 7, null]);
      break;
    }
    case 2: { // quantization
      const e = r.pick(entries);
      if (e) e.quantization = r.pick([{ dtype: 'uint8', min: 'x', scale: 1 }, { dtype: 'uint16', min: 0, scale: 1e308 }, { dtype: 'int4' }, { dtype: 'float16' }, { dtype: 'uint8', min: 0, scale: 1, original_dtype: 'int32' }, null, 5]);
      break;
    }
    case 3: // shard paths
      if (group) group.paths = r.chance(0.7) ? [r.pick([...HOSTILE_PATHS, 'link/passwd', 'a.bin', SHARD])] : r.pick([[], 'a.bin', [1], [null], {}]);
      break;
    case 4: { // nesting: a marker the caller expands in the text (JSON.stringify itself would overflow the stack)
      const s = slots(json);
      const [p, k] = r.pick(s);
      p[k] = { [NEST]: r.pick([100, 1000, 10000]) };
      break;
    }
    default: {
      const s = slots(json);
      if (!s.length) break;
      const [p, k] = r.pick(s);
      if (r.chance(0.25)) { if (Array.isArray(p)) p.splice(k, 1); else delete p[k]; } else p[k] = r.pick(HOSTILE_JSON);
    }
  }
}

module.exports = { graphModel, layersModel, editJson, jsonText, SHARD };
