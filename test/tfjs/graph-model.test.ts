import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Node, Value } from '../../src/ir';
import { loadTfjs, saveTfjs, tfjsFiles, isTfjsPath } from '../../src/formats/tfjs';
import type { TfjsModelExtra, TfNodeExtra } from '../../src/formats/tfjs/types';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { constNode, f32, node, placeholder, readJson, runGraphModel, seeded, tempDir, writeGraphModel } from './helpers';

const s = (x: string): Record<string, unknown> => ({ s: Buffer.from(x).toString('base64') });
const ints = (xs: number[]): Record<string, unknown> => ({ list: { i: xs.map(String) } });

/** A small CNN head as tfjs-converter would write it, with int32/bool/string weights and control inputs. */
function cnnGraph(): { nodes: Record<string, unknown>[]; weights: Record<string, tf.Tensor> } {
  const weights: Record<string, tf.Tensor> = {
    shape4d: tf.tensor1d([-1, 2, 2, 2], 'int32'),
    conv_w: tf.tensor4d(seeded(2 * 2 * 2 * 3, 7), [2, 2, 2, 3]),
    conv_b: tf.tensor1d(seeded(3, 8)),
    shape2d: tf.tensor1d([-1, 12], 'int32'),
    dense_w: tf.tensor2d(seeded(12 * 5, 9), [12, 5]),
    dense_b: tf.tensor1d(seeded(5, 10)),
    flag: tf.tensor1d([true, false, true], 'bool'),
    labels: tf.tensor1d(['cat', 'dög', ''], 'string'),
  };
  const nodes = [
    placeholder('x', [-1, 8]),
    constNode('shape4d', weights.shape4d),
    constNode('conv_w', weights.conv_w),
    constNode('conv_b', weights.conv_b),
    constNode('shape2d', weights.shape2d),
    constNode('dense_w', weights.dense_w),
    constNode('dense_b', weights.dense_b),
    constNode('flag', weights.flag),
    constNode('labels', weights.labels),
    node('img', 'Reshape', ['x', 'shape4d'], { T: f32, Tshape: { type: 'DT_INT32' } }),
    { ...node('conv', 'Conv2D', ['img', 'conv_w'], { T: f32, strides: ints([1, 1, 1, 1]), padding: s('SAME'), data_format: s('NHWC'), dilations: ints([1, 1, 1, 1]) }), device: '/device:CPU:0' },
    node('conv_bias', 'BiasAdd', ['conv', 'conv_b'], { T: f32, data_format: s('NHWC') }),
    node('relu', 'Relu', ['conv_bias:0'], { T: f32 }),
    node('flat', 'Reshape', ['relu', 'shape2d'], { T: f32, Tshape: { type: 'DT_INT32' } }),
    node('logits', 'MatMul', ['flat', 'dense_w'], { T: f32, transpose_a: { b: false }, transpose_b: { b: false } }),
    node('logits_b', 'BiasAdd', ['logits', 'dense_b'], { T: f32, data_format: s('NHWC') }),
    node('probs', 'Softmax', ['logits_b'], { T: f32 }),
    node('Identity', 'Identity', ['probs', '^flag', '^labels'], { T: f32 }),
  ];
  return { nodes, weights };
}

const extras = {
  signature: {
    inputs: { x: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '8' }] } } },
    outputs: { probs: { name: 'Identity:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '5' }] } } },
  },
  userDefinedMetadata: { labels: ['a', 'b'], nested: { k: 1 } },
  modelInitializer: { node: [], versions: { producer: 1482 } },
  initializerSignature: { outputs: {} },
  somethingUnknown: { keep: [1, 2, 3] },
};
const library = { function: [{ signature: { name: 'unused_fn', inputArg: [], outputArg: [] }, nodeDef: [], ret: {} }] };

let backend = '';
beforeAll(async () => {
  backend = await initTfjs();
});

describe('tfjs graph-model', () => {
  test('initTfjs picks the wasm backend when tfjs-node is absent', () => {
    expect(['wasm', 'tensorflow']).toContain(backend);
  });

  test('decodes nodes, inputs, weights and control inputs into the IR', async () => {
    const dir = tempDir('g1');
    const { nodes, weights } = cnnGraph();
    await writeGraphModel(dir, nodes, weights, extras, { library });
    const m = loadTfjs(dir);
    expect(m.format).toBe('tfjs-graph');
    expect(m.graph.inputs.map((v) => [v.name, v.dtype, v.shape])).toEqual([['x', 'float32', [null, 8]]]);
    expect(m.graph.initializers.map((v) => `${v.name}:${v.const!.dtype}`)).toEqual([
      'shape4d:int32', 'conv_w:float32', 'conv_b:float32', 'shape2d:int32', 'dense_w:float32', 'dense_b:float32', 'flag:bool', 'labels:string',
    ]);
    expect(Array.from(m.graph.initializers[0].const!.typed() as Int32Array)).toEqual([-1, 2, 2, 2]);
    expect(Array.from(m.graph.initializers[6].const!.typed() as Uint8Array)).toEqual([1, 0, 1]);
    expect(m.graph.initializers[7].const!.strings().map((b) => Buffer.from(b).toString())).toEqual(['cat', 'dög', '']);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Reshape', 'Conv2D', 'BiasAdd', 'Relu', 'Reshape', 'MatMul', 'BiasAdd', 'Softmax', 'Identity']);
    const conv = m.graph.nodes[1];
    expect(conv.domain).toBe('tf');
    expect(conv.inputs.map((v) => v!.name)).toEqual(['img', 'conv_w']);
    expect(conv.attributes.get('padding')).toEqual({ name: 'padding', type: 'json', value: s('SAME') });
    const id = m.graph.nodes[8];
    expect((id.extra as TfNodeExtra).controlInputs).toEqual(['flag', 'labels']);
    expect(m.graph.outputs).toEqual([id.outputs[0]]);
    expect(m.graph.nodes[3].inputs[0]).toBe(m.graph.nodes[2].outputs[0]);
    expect(m.signature).toEqual(extras.signature);
    expect(m.userMetadata).toEqual(extras.userDefinedMetadata);
    expect((m.extra as TfjsModelExtra).json.somethingUnknown).toEqual(extras.somethingUnknown);
  });

  test('round trip: stock tfjs gives bitwise-identical outputs and model.json keeps every key', async () => {
    const dir = tempDir('g2');
    const out = tempDir('g2out');
    const { nodes, weights } = cnnGraph();
    // 100-byte shards: most weights span two shard files.
    await writeGraphModel(dir, nodes, weights, extras, { library }, 100);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).length).toBeGreaterThan(3);
    const x = tf.tensor2d(seeded(3 * 8, 3), [3, 8]);
    const before = await runGraphModel(dir, { x });
    saveTfjs(loadTfjs(dir), out, { shardBytes: 64 });
    const after = await runGraphModel(out, { x });
    expect(after).toHaveLength(1);
    expect(Buffer.from(after[0]).equals(Buffer.from(before[0]))).toBe(true);
    const probs = new Float32Array(after[0].buffer);
    expect(probs[0] + probs[1] + probs[2] + probs[3] + probs[4]).toBeCloseTo(1, 5);

    const a = readJson(path.join(dir, 'model.json'));
    const b = readJson(path.join(out, 'model.json'));
    expect(b.modelTopology).toEqual(a.modelTopology);
    for (const k of ['format', 'generatedBy', 'convertedBy', 'signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'somethingUnknown']) {
      expect(b[k]).toEqual(a[k]);
    }
    const manifest = b.weightsManifest as { paths: string[]; weights: unknown[] }[];
    expect(manifest).toHaveLength(1);
    expect(manifest[0].paths[0]).toMatch(/^group1-shard1of\d+\.bin$/);
    expect(manifest[0].weights).toEqual((a.weightsManifest as { weights: unknown[] }[])[0].weights);
    expect(tfjsFiles(out).map((f) => path.basename(f))).toEqual(['model.json', ...manifest[0].paths]);
    for (const f of tfjsFiles(out).slice(1)) expect(fs.statSync(f).size).toBeLessThanOrEqual(64);
    expect(isTfjsPath(out)).toBe(true);
    expect(isTfjsPath(path.join(out, 'model.json'))).toBe(true);
    expect(isTfjsPath(tfjsFiles(out)[1])).toBe(false);

    // Deterministic: saving again gives the same bytes.
    const out2 = tempDir('g2out2');
    saveTfjs(loadTfjs(out), out2, { shardBytes: 64 });
    for (const f of fs.readdirSync(out)) expect(fs.readFileSync(path.join(out2, f)).equals(fs.readFileSync(path.join(out, f)))).toBe(true);
  });

  test('a weight changed by a pass is written with its new dtype, shape and data', async () => {
    const dir = tempDir('g3');
    const out = tempDir('g3out');
    const { nodes, weights } = cnnGraph();
    await writeGraphModel(dir, nodes, weights, extras);
    const m = loadTfjs(dir);
    const b = m.graph.initializers.find((v) => v.name === 'dense_b')!;
    b.const!.setData('float32', [5], { kind: 'bytes', bytes: new Uint8Array(new Float32Array([100, 0, 0, 0, 0]).buffer) });
    saveTfjs(m, out);
    const x = tf.tensor2d(seeded(2 * 8, 5), [2, 8]);
    const [y] = await runGraphModel(out, { x });
    const probs = new Float32Array(y.buffer);
    expect(probs[0]).toBeCloseTo(1, 5);
    expect(probs[5]).toBeCloseTo(1, 5);
  });

  test('a node inserted by a pass is wired by name and runs', async () => {
    const dir = tempDir('g4');
    const out = tempDir('g4out');
    const { nodes, weights } = cnnGraph();
    await writeGraphModel(dir, nodes, weights, extras);
    const x = tf.tensor2d(seeded(2 * 8, 6), [2, 8]);
    const [before] = await runGraphModel(dir, { x });
    const m = loadTfjs(dir);
    const relu = m.graph.nodes.find((n) => n.name === 'relu')!;
    // relu6(relu(v)) differs from relu(v) only above 6; insert a Relu6 after relu.
    const r6 = new Node({ opType: 'Relu6', domain: 'tf', name: m.graph.uniqueName('relu6'), attributes: [{ name: 'T', type: 'json', value: f32 }] });
    r6.appendOutput(new Value(r6.name));
    relu.outputs[0].replaceAllUsesWith(r6.outputs[0]);
    r6.appendInput(relu.outputs[0]);
    m.graph.addNode(r6, m.graph.nodes[m.graph.nodes.indexOf(relu) + 1]);
    saveTfjs(m, out);
    const json = readJson(path.join(out, 'model.json')) as { modelTopology: { node: { name: string; input?: string[] }[] } };
    const names = json.modelTopology.node.map((n) => n.name);
    expect(names.indexOf('relu6')).toBe(names.indexOf('relu') + 1);
    expect(json.modelTopology.node.find((n) => n.name === 'flat')!.input).toEqual(['relu6', 'shape2d']);
    const [after] = await runGraphModel(out, { x });
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true); // activations here stay below 6
  });
});
