import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {
  Graph, Model, Node, Tensor, Value, intAttr, pack4,
} from '../../src/ir';
import { saveModel, loadModel, modelFiles } from '../../src/formats';
import { externalDataStats, loadOnnx } from '../../src/formats/onnx';
import { saveTfjs, setTfjsQuantization } from '../../src/formats/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { inspectModel, inspectPath } from '../../src/inspect';

const tmp = (tag: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `mc-inspect-${tag}-`));

/** A small Keras-style CNN saved by stock tfjs; its parameter count comes from tfjs itself. */
async function stockCnn(dir: string): Promise<number> {
  await tf.setBackend('cpu');
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tf.layers.dense({ units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  await m.save(tfjsFileHandler(dir));
  const n = m.countParams();
  m.dispose();
  return n;
}

describe('inspect a tfjs layers model', () => {
  let dir: string;
  let tfjsCount: number;
  beforeAll(async () => {
    dir = tmp('layers');
    tfjsCount = await stockCnn(dir);
  });

  it('counts parameters as tfjs countParams() does, with ops, shapes and bytes', () => {
    const r = inspectPath(dir);
    // conv 3·3·1·4+4, dense 36·16+16, dense 16·5+5
    expect(tfjsCount).toBe(40 + 592 + 85);
    expect(r.parameters).toBe(tfjsCount);
    expect(r.format).toBe('tfjs-layers');
    expect(r.producer.name).toMatch(/^TensorFlow\.js tfjs-layers v4\./);
    expect(r.opTypes.map((o) => [o.opType, o.count])).toEqual([['Dense', 2], ['Conv2D', 1], ['Flatten', 1], ['MaxPooling2D', 1]]);
    expect(r.nodeCount).toBe(5);
    expect(r.inputs).toHaveLength(1);
    expect(r.inputs[0].shape).toEqual([null, 8, 8, 1]);
    expect(r.constants).toEqual({ tensors: 6, elements: tfjsCount, storedBytes: 4 * tfjsCount, decodedBytes: 4 * tfjsCount });
    expect(r.bytesByDtype).toEqual([{ storedDtype: 'float32', dtype: 'float32', tensors: 6, elements: tfjsCount, storedBytes: 4 * tfjsCount, decodedBytes: 4 * tfjsCount }]);
    expect(r.largestTensors.map((t) => [t.shape, t.storedBytes])).toEqual([
      [[36, 16], 2304], [[16, 5], 320], [[3, 3, 1, 4], 144], [[16], 64], [[5], 20], [[4], 16],
    ]);
    expect(r.quantization).toEqual([]);
    expect(r.files.map((f) => f.path).sort()).toEqual(['model.json', 'weights.bin']);
    expect(r.totalFileBytes).toBe(fs.statSync(path.join(dir, 'model.json')).size + 4 * tfjsCount);
  });

  it('reports stored uint8 quantization: 1 byte stored, 4 decoded, per element', () => {
    const model = loadModel(dir);
    const kernel = model.graph.initializers.find((v) => v.const!.shape.join() === '36,16')!;
    const n = 36 * 16;
    setTfjsQuantization(kernel.const!, { dtype: 'uint8', min: -0.5, scale: 1 / 255 }, new Uint8Array(n).fill(7));
    const out = tmp('quant');
    saveTfjs(model, out);
    for (const r of [inspectModel(model), inspectPath(out)]) {
      expect(r.parameters).toBe(tfjsCount);
      expect(r.bytesByDtype).toEqual([
        // largest stored bytes first: 576 > 4·141
        { storedDtype: 'uint8', dtype: 'float32', tensors: 1, elements: n, storedBytes: n, decodedBytes: 4 * n },
        { storedDtype: 'float32', dtype: 'float32', tensors: 5, elements: tfjsCount - n, storedBytes: 4 * (tfjsCount - n), decodedBytes: 4 * (tfjsCount - n) },
      ]);
      expect(r.constants.storedBytes).toBe(4 * (tfjsCount - n) + n);
      expect(r.quantization).toEqual([{
        tensor: kernel.name, scheme: 'tfjs-manifest', op: null, storedDtype: 'uint8', bits: 8,
        shape: [36, 16], elements: n, storedBytes: n, axis: null, blockSize: null,
      }]);
      expect(r.largestTensors[0]).toEqual({ name: kernel.name, dtype: 'float32', storedDtype: 'uint8', shape: [36, 16], storedBytes: n, decodedBytes: 4 * n });
    }
  });
});

/** An ONNX model with an int8 per-channel DequantizeLinear weight, a 4-bit MatMulNBits weight and a Reshape shape constant. */
function quantizedOnnx(): Model {
  const m = new Model('onnx');
  m.irVersion = 10;
  m.opsetImports = [{ domain: '', version: 21 }, { domain: 'com.microsoft', version: 1 }];
  m.producerName = 'test';
  m.producerVersion = '1';
  const g = m.graph;
  const x = new Value('x', { dtype: 'float32', shape: ['batch', 64] });
  g.inputs.push(x);
  const wq = g.addInitializer('w_q', Tensor.fromArray('int8', [64, 32], new Int8Array(64 * 32).fill(3)));
  const ws = g.addInitializer('w_scale', Tensor.fromArray('float32', [32], new Float32Array(32).fill(0.01)));
  const w = new Value('w', { dtype: 'float32', shape: [64, 32] });
  g.addNode(new Node({ opType: 'DequantizeLinear', name: 'dq', inputs: [wq, ws], outputs: [w], attributes: [intAttr('axis', 1)] }));
  const h = new Value('h', { dtype: 'float32', shape: ['batch', 32] });
  g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [h] }));
  // MatMulNBits: B uint8 [N, K/32, 16] packs 4-bit weights, scales [N·K/32] float32.
  const b = g.addInitializer('b_q4', Tensor.fromBytes('uint8', [16, 1, 16], pack4(new Uint8Array(16 * 32).fill(9))));
  const bs = g.addInitializer('b_scales', Tensor.fromArray('float32', [16], new Float32Array(16).fill(0.1)));
  const y = new Value('y', { dtype: 'float32', shape: ['batch', 16] });
  g.addNode(new Node({
    opType: 'MatMulNBits', domain: 'com.microsoft', name: 'mnb', inputs: [h, b, bs], outputs: [y],
    attributes: [intAttr('K', 32), intAttr('N', 16), intAttr('bits', 4), intAttr('block_size', 32)],
  }));
  const shape = g.addInitializer('shape', Tensor.fromArray('int64', [3], new BigInt64Array([-1n, 4n, 4n])));
  const z = new Value('z', { dtype: 'float32', shape: ['batch', 4, 4] });
  g.addNode(new Node({ opType: 'Reshape', name: 'rs', inputs: [y, shape], outputs: [z] }));
  g.outputs.push(z);
  return m;
}

describe('inspect an ONNX model with stored quantization', () => {
  it('counts learned constants only and lists the quantized weights', () => {
    const r = inspectModel(quantizedOnnx());
    // int8 w_q 2048 + scale 32 + MatMulNBits B (256 bytes packing N·K = 512 4-bit values) + scales 16;
    // the int64 Reshape shape is not a parameter.
    expect(r.parameters).toBe(2048 + 32 + 512 + 16);
    expect(r.constants.elements).toBe(2048 + 32 + 256 + 16 + 3);
    expect(r.opTypes).toEqual([
      { domain: '', opType: 'DequantizeLinear', count: 1 },
      { domain: '', opType: 'MatMul', count: 1 },
      { domain: 'com.microsoft', opType: 'MatMulNBits', count: 1 },
      { domain: '', opType: 'Reshape', count: 1 },
    ]);
    expect(r.quantization).toEqual([
      { tensor: 'w_q', scheme: 'onnx-op', op: 'DequantizeLinear', storedDtype: 'int8', bits: 8, shape: [64, 32], elements: 2048, storedBytes: 2048, axis: 1, blockSize: null },
      { tensor: 'b_q4', scheme: 'onnx-op', op: 'com.microsoft.MatMulNBits', storedDtype: 'uint8', bits: 4, shape: [16, 1, 16], elements: 256, storedBytes: 256, axis: null, blockSize: 32 },
    ]);
    expect(r.bytesByDtype.map((d) => [d.storedDtype, d.tensors, d.storedBytes])).toEqual([['int8', 1, 2048], ['uint8', 1, 256], ['float32', 2, 192], ['int64', 1, 24]]);
    expect(r.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['batch', 64] }]);
    expect(r.outputs).toEqual([{ name: 'z', dtype: 'float32', shape: ['batch', 4, 4] }]);
    expect(r.opsets).toEqual([{ domain: '', version: 21 }, { domain: 'com.microsoft', version: 1 }]);
    expect(r.producer).toEqual({ name: 'test', version: '1' });
  });

  it('reports int4 DequantizeLinear weights (block-wise) after an ONNX round trip', () => {
    const m = quantizedOnnx();
    const wq = m.graph.initializers.find((v) => v.name === 'w_q')!;
    wq.const!.setData('int4', [64, 32], { kind: 'bytes', bytes: pack4(new Int8Array(64 * 32).fill(-2)) });
    wq.dtype = 'int4';
    const dq = m.graph.nodes.find((n) => n.opType === 'DequantizeLinear')!;
    dq.setAttribute(intAttr('axis', 0));
    dq.setAttribute(intAttr('block_size', 32));
    m.graph.initializers.find((v) => v.name === 'w_scale')!.const!.setData('float32', [2, 32], { kind: 'bytes', bytes: new Uint8Array(256) });
    const file = path.join(tmp('int4'), 'q.onnx');
    saveModel(m, file);
    const r = inspectPath(file);
    expect(r.quantization[0]).toEqual({ tensor: 'w_q', scheme: 'onnx-op', op: 'DequantizeLinear', storedDtype: 'int4', bits: 4, shape: [64, 32], elements: 2048, storedBytes: 1024, axis: 0, blockSize: 32 });
    expect(r.parameters).toBe(2048 + 64 + 512 + 16);
    expect(r.files).toEqual([{ path: 'q.onnx', bytes: fs.statSync(file).size }]);
  });
});

describe('inspect reads no weights', () => {
  it('leaves external data unloaded and still reports its bytes', () => {
    const dir = tmp('ext');
    const file = path.join(dir, 'q.onnx');
    saveModel(quantizedOnnx(), file, { externalData: { threshold: 100 } });
    expect(fs.existsSync(`${file}.data`)).toBe(true);
    const model = loadOnnx(file);
    const before = externalDataStats.reads;
    const lazy = [...model.weights()].filter((v) => v.const!.isLazy).map((v) => v.name).sort();
    expect(lazy).toEqual(['b_q4', 'w_q', 'w_scale']);
    const r = inspectModel(model, modelFiles(file, model), { baseDir: dir });
    expect(externalDataStats.reads).toBe(before);
    expect(r.constants.storedBytes).toBe(2048 + 128 + 256 + 64 + 24);
    expect(r.files.map((f) => f.path)).toEqual(['q.onnx', 'q.onnx.data']);
    expect(r.totalFileBytes).toBe(fs.statSync(file).size + fs.statSync(`${file}.data`).size);
  });
});
