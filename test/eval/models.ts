/**
 * Small deterministic classifiers for the eval tests, written to a temp folder:
 * an ONNX CNN (NCHW) built with the IR and saved by saveOnnx, the same kind of
 * net as a tfjs layers-model (NHWC) saved through stock tfjs, and .npy data.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnx } from '../../src/formats/onnx';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { Graph, intsAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { npyHeader } from '../data/helpers';
import { floats } from '../helpers/onnx-build';

export const N = 200;
export const HW = 8;
export const CLASSES = 10;

/** X [N,1,8,8] → Conv(4, 3×3) → Relu → Flatten → MatMul [144, 10] → logits [N,10]. `scale` perturbs the dense weights. */
export function buildCnn(opts: { inputName?: string; denseScale?: number } = {}): Model {
  const g = new Graph();
  g.name = 'cnn';
  const x = new Value(opts.inputName ?? 'x', { dtype: 'float32', shape: ['N', 1, HW, HW] });
  g.inputs.push(x);
  const w = g.addInitializer('W', Tensor.fromArray('float32', [4, 1, 3, 3], floats(36, 3), 'W'));
  const b = g.addInitializer('B', Tensor.fromArray('float32', [4], floats(4, 5), 'B'));
  const dense = floats(4 * 6 * 6 * CLASSES, 11);
  if (opts.denseScale !== undefined) {
    const noise = floats(dense.length, 13);
    for (let i = 0; i < dense.length; i++) dense[i] += noise[i] * opts.denseScale;
  }
  const d = g.addInitializer('D', Tensor.fromArray('float32', [4 * 6 * 6, CLASSES], dense, 'D'));
  const conv = new Value('conv_out');
  const relu = new Value('relu_out');
  const flat = new Value('flat_out');
  const y = new Value('logits', { dtype: 'float32', shape: ['N', CLASSES] });
  g.addNode(new Node({ opType: 'Conv', name: 'conv', inputs: [x, w, b], outputs: [conv], attributes: [intsAttr('kernel_shape', [3, 3])] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [conv], outputs: [relu] }));
  g.addNode(new Node({ opType: 'Flatten', name: 'flatten', inputs: [relu], outputs: [flat] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'dense', inputs: [flat, d], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  return m;
}

export function writeNpy(file: string, descr: '<f4' | '<i8', shape: number[], data: Float32Array | BigInt64Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([npyHeader(descr, shape), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/** NCHW → NHWC for one channel is a reshape; kept general for clarity. */
export function toNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
    out[((i * h + y) * w + xx) * c + ch] = x[((i * c + ch) * h + y) * w + xx];
  }
  return out;
}

export interface EvalFixtures {
  dir: string;
  cnn: string;
  cnnNoisy: string;
  otherInput: string;
  tfjsCnn: string;
  x: string;
  xNhwc: string;
  y: string;
  yShort: string;
  xData: Float32Array;
  yData: BigInt64Array;
}

/** Labels are pseudo-random classes, so accuracy is some honest fraction that the oracle must match exactly. */
export async function writeEvalFixtures(dir: string): Promise<EvalFixtures> {
  const f: EvalFixtures = {
    dir,
    cnn: path.join(dir, 'cnn.onnx'),
    cnnNoisy: path.join(dir, 'cnn-noisy.onnx'),
    otherInput: path.join(dir, 'other-input.onnx'),
    tfjsCnn: path.join(dir, 'tfjs-cnn'),
    x: path.join(dir, 'x.npy'),
    xNhwc: path.join(dir, 'x-nhwc.npy'),
    y: path.join(dir, 'y.npy'),
    yShort: path.join(dir, 'y-short.npy'),
    xData: floats(N * HW * HW, 21),
    yData: BigInt64Array.from(floats(N, 23), (v) => BigInt(Math.floor((v + 1) * 5) % CLASSES)),
  };
  saveOnnx(buildCnn(), f.cnn);
  saveOnnx(buildCnn({ denseScale: 0.02 }), f.cnnNoisy);
  saveOnnx(buildCnn({ inputName: 'image' }), f.otherInput);
  writeNpy(f.x, '<f4', [N, 1, HW, HW], f.xData);
  writeNpy(f.xNhwc, '<f4', [N, HW, HW, 1], toNhwc(f.xData, N, 1, HW, HW));
  writeNpy(f.y, '<i8', [N], f.yData);
  writeNpy(f.yShort, '<i8', [N - 7], f.yData.slice(0, N - 7));

  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [HW, HW, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: CLASSES, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  await m.save(tfjsFileHandler(f.tfjsCnn));
  m.dispose();
  return f;
}

export const LM = { n: 20, t: 6, vocab: 12, dim: 5 };

/** ids int64 [N,T] → Gather(E [V,D]) → MatMul(P [D,V]) → logits [N,T,V]: a toy language model. */
export function buildLm(): Model {
  const g = new Graph();
  g.name = 'lm';
  const ids = new Value('ids', { dtype: 'int64', shape: ['N', LM.t] });
  g.inputs.push(ids);
  const e = g.addInitializer('E', Tensor.fromArray('float32', [LM.vocab, LM.dim], floats(LM.vocab * LM.dim, 31).map((v) => v * 3), 'E'));
  const p = g.addInitializer('P', Tensor.fromArray('float32', [LM.dim, LM.vocab], floats(LM.dim * LM.vocab, 37).map((v) => v * 3), 'P'));
  const h = new Value('h');
  const y = new Value('logits', { dtype: 'float32', shape: ['N', LM.t, LM.vocab] });
  g.addNode(new Node({ opType: 'Gather', name: 'embed', inputs: [e, ids], outputs: [h] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'proj', inputs: [h, p], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  return m;
}
