import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadTfjs, saveTfjs, tfjsFiles, SHARD_BYTES } from '../../src/formats/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { readJson, runLayersModel, seeded, tempDir } from './helpers';

beforeAll(async () => {
  await initTfjs();
});

function setSeededWeights(model: tf.LayersModel): void {
  model.weights.forEach((w, i) => {
    const v = w.read();
    const data = seeded(v.size, 100 + i, 0.5);
    // BatchNorm variance must stay positive.
    if (w.name.includes('variance')) for (let k = 0; k < data.length; k++) data[k] = Math.abs(data[k]) + 0.1;
    w.write(tf.tensor(data, v.shape));
  });
}

function sequentialMlp(): tf.Sequential {
  const m = tf.sequential({ name: 'mlp' });
  m.add(tf.layers.dense({ inputShape: [8], units: 16, activation: 'relu', name: 'dense' }));
  m.add(tf.layers.dense({ units: 4, activation: 'softmax', name: 'out' }));
  setSeededWeights(m);
  return m;
}

function functionalCnn(): tf.LayersModel {
  const img = tf.input({ shape: [6, 6, 1], name: 'img' });
  const extra = tf.input({ shape: [3], name: 'extra' });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'conv2d' }).apply(img) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten({ name: 'flat' }).apply(h) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([h, extra]) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 5, activation: 'softmax', name: 'head' }).apply(cat) as tf.SymbolicTensor;
  const m = tf.model({ inputs: [img, extra], outputs: y, name: 'cnn' });
  setSeededWeights(m);
  return m;
}

async function predictBytes(dir: string, inputs: tf.Tensor | tf.Tensor[]): Promise<Buffer> {
  const model = await tf.loadLayersModel(tfjsFileHandler(dir));
  const y = model.predict(inputs) as tf.Tensor;
  const d = await y.data();
  model.dispose();
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

describe('tfjs layers-model', () => {
  test('Sequential: layers become keras nodes with their weights as initializers; round trip is bitwise', async () => {
    const dir = tempDir('l1');
    const out = tempDir('l1out');
    await sequentialMlp().save(tfjsFileHandler(dir));
    const m = loadTfjs(dir);
    expect(m.format).toBe('tfjs-layers');
    expect(m.graph.inputs.map((v) => [v.name, v.shape])).toEqual([['dense_input', [null, 8]]]);
    expect(m.graph.nodes.map((n) => `${n.domain}.${n.opType}:${n.name}`)).toEqual(['keras.Dense:dense', 'keras.Dense:out']);
    const dense = m.graph.nodes[0];
    expect(dense.inputs.map((v) => v!.name)).toEqual(['dense_input', 'dense/kernel', 'dense/bias']);
    expect(dense.inputs[1]!.const!.shape).toEqual([8, 16]);
    expect(m.graph.nodes[1].inputs[0]).toBe(dense.outputs[0]);
    expect(m.graph.outputs).toEqual([m.graph.nodes[1].outputs[0]]);
    const cfg = dense.attributes.get('config');
    expect(cfg?.type === 'json' && (cfg.value as { units: number }).units).toBe(16);

    const x = tf.tensor2d(seeded(4 * 8, 11), [4, 8]);
    const before = await runLayersModel(dir, x);
    saveTfjs(m, out, { shardBytes: 100 });
    expect(tfjsFiles(out).length).toBeGreaterThan(3);
    const after = await runLayersModel(out, x);
    expect(Buffer.from(after.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    expect(after[0] + after[1] + after[2] + after[3]).toBeCloseTo(1, 5);
    const a = readJson(path.join(dir, 'model.json'));
    const b = readJson(path.join(out, 'model.json'));
    expect(b.modelTopology).toEqual(a.modelTopology);
    expect(b.format).toBe('layers-model');
    expect(b.generatedBy).toEqual(a.generatedBy);
  });

  test('a pass editing a layer config and a weight is reflected in the saved model', async () => {
    const dir = tempDir('l2');
    const out = tempDir('l2out');
    await sequentialMlp().save(tfjsFileHandler(dir));
    const m = loadTfjs(dir);
    const outNode = m.graph.nodes[1];
    const cfg = outNode.attributes.get('config')!;
    outNode.setAttribute({ name: 'config', type: 'json', value: { ...(cfg.value as object), activation: 'linear' } });
    const bias = outNode.inputs[2]!.const!;
    bias.setData('float32', [4], { kind: 'bytes', bytes: new Uint8Array(new Float32Array([1000, 0, 0, 0]).buffer) });
    saveTfjs(m, out);
    const y = await runLayersModel(out, tf.tensor2d(seeded(8, 12), [1, 8]));
    expect(y[0]).toBeGreaterThan(990); // linear activation, huge bias
    expect(Math.abs(y[1])).toBeLessThan(50);
  });

  test('Functional model with two inputs, Conv2D, BatchNorm and Concatenate round-trips bitwise', async () => {
    const dir = tempDir('l3');
    const out = tempDir('l3out');
    await functionalCnn().save(tfjsFileHandler(dir));
    const m = loadTfjs(dir);
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['img', 'extra']);
    const cat = m.graph.nodes.find((n) => n.name === 'cat')!;
    expect(cat.inputs.map((v) => v!.name)).toEqual(['flat', 'extra']);
    const bn = m.graph.nodes.find((n) => n.name === 'bn')!;
    expect(bn.inputs.slice(1).map((v) => v!.name)).toEqual(['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance']);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['head']);
    const inputs = [tf.tensor4d(seeded(2 * 36, 13), [2, 6, 6, 1]), tf.tensor2d(seeded(6, 14), [2, 3])];
    const before = await predictBytes(dir, inputs);
    saveTfjs(m, out);
    const after = await predictBytes(out, inputs);
    expect(after.equals(before)).toBe(true);
    expect(readJson(path.join(out, 'model.json')).modelTopology).toEqual(readJson(path.join(dir, 'model.json')).modelTopology);
  });

  test('weights over 4 MiB are split into tfjs-converter shards, one weight spanning two files', async () => {
    const dir = tempDir('l4');
    const out = tempDir('l4out');
    const big = tf.sequential();
    big.add(tf.layers.dense({ inputShape: [1100], units: 1000, name: 'big' }));
    big.add(tf.layers.dense({ units: 3, name: 'small' }));
    await big.save(tfjsFileHandler(dir));
    saveTfjs(loadTfjs(dir), out);
    const files = tfjsFiles(out).map((f) => path.basename(f));
    expect(files).toEqual(['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']);
    expect(fs.statSync(path.join(out, 'group1-shard1of2.bin')).size).toBe(SHARD_BYTES);
    expect(fs.statSync(path.join(out, 'group1-shard2of2.bin')).size).toBe((1100 * 1000 + 1000 + 1000 * 3 + 3) * 4 - SHARD_BYTES);
    const x = tf.tensor2d(seeded(1100, 15), [1, 1100]);
    const before = await runLayersModel(dir, x);
    const after = await runLayersModel(out, x);
    expect(Buffer.from(after.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    // The loaded kernel spans both shards and must equal the original bytes.
    const reread = loadTfjs(out).graph.initializers[0].const!;
    expect(Buffer.from(reread.bytes()).equals(fs.readFileSync(path.join(dir, 'weights.bin')).subarray(0, 1100 * 1000 * 4))).toBe(true);
    // Re-saving into the same folder with fewer shards removes the stale ones.
    const m = loadTfjs(out);
    m.graph.initializers[0].const!.setData('float32', [1100, 1000], { kind: 'bytes', bytes: new Uint8Array(1100 * 1000 * 4) });
    saveTfjs(m, out, { shardBytes: 8 << 20 });
    expect(fs.readdirSync(out).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
  });
});
