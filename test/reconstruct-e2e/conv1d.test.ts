/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * 1-D convolutions (Conv with a rank-3 weight [M, C/g, k], as the corpus's
 * audio models have: openWakeWord's STFT, Silero's encoder): the schedule reads
 * them as a 2-D conv with a kernel of height 1. On a two-layer Conv1D model fed
 * smooth random signals:
 *  - the first layer's H equals 2·XᵀX/N (N samples, as gptq.py) with X the im2col rows built in the
 *    test from the input (pads 2, stride 1), to 1e-9 relative;
 *  - GPTQ int4 has a lower held-out output error than RTN on both layers, and
 *    the written model runs in onnxruntime.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx/codec';
import { Graph, intsAttr, Node, Tensor, Value } from '../../src/ir';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { layerHessians, reconstructForQuantize } from '../../src/pipeline/reconstruct';
import { findLayers } from '../../src/pipeline/reconstruct-schedule';
import { mulberry32 } from '../../src/util/prng';
import { npyHeader } from '../data/helpers';
import { tempDir } from '../helpers/cli-run';
import { onnxModel, randomFloats } from '../quantize/helpers';
import { heldOutErrors } from './helpers';

jest.setTimeout(120_000);

const [C, L, M1, M2] = [4, 64, 8, 6];

function model(): ReturnType<typeof onnxModel> {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['N', C, L] });
  g.inputs.push(x);
  const w = (name: string, shape: number[], seed: number): Value => g.addInitializer(name, Tensor.fromArray('float32', shape, randomFloats(shape.reduce((a, b) => a * b, 1), seed), name));
  const [h, r, y] = [new Value('h'), new Value('r'), new Value('y', { dtype: 'float32' })];
  g.addNode(new Node({ opType: 'Conv', name: 'c1', inputs: [x, w('c1.weight', [M1, C, 5], 3), w('c1.bias', [M1], 4)], outputs: [h], attributes: [intsAttr('pads', [2, 2]), intsAttr('kernel_shape', [5])] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [h], outputs: [r] }));
  g.addNode(new Node({ opType: 'Conv', name: 'c2', inputs: [r, w('c2.weight', [M2, M1, 3], 5)], outputs: [y], attributes: [intsAttr('pads', [1, 1]), intsAttr('strides', [2])] }));
  g.outputs.push(y);
  return onnxModel(g, 13);
}

/** n smooth signals [n, C, L]: running sums of uniform noise, so neighbouring samples correlate (H far from diagonal). */
function signals(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n * C * L);
  for (let s = 0; s < n * C; s++) {
    let v = 0;
    for (let t = 0; t < L; t++) { v = 0.9 * v + (2 * rand() - 1); out[s * L + t] = v; }
  }
  return out;
}

function writeNpy(file: string, data: Float32Array, n: number): void {
  fs.writeFileSync(file, Buffer.concat([npyHeader('<f4', [n, C, L]), Buffer.from(data.buffer)]));
}

test('Conv1D: H equals the im2col reference; GPTQ int4 below RTN on both layers; runs in onnxruntime', async () => {
  const dir = tempDir('mc-conv1d-');
  const calib = path.join(dir, 'calib.npy');
  const held = path.join(dir, 'held.npy');
  const xc = signals(64, 1);
  writeNpy(calib, xc, 64);
  writeNpy(held, signals(32, 2), 32);
  const m = model();
  const { layers } = findLayers(m);
  expect(layers.map((l) => [l.name, l.rows, l.cols])).toEqual([['c1.weight', M1, C * 5], ['c2.weight', M2, M1 * 3]]);
  const h = (await layerHessians(m, layers, calib)).get('c1.weight')![0];
  // reference: rows (c, k) of the padded input, one per output position
  const k = 5;
  const cols = C * k;
  const ref = new Float64Array(cols * cols);
  let rows = 0;
  const row = new Float64Array(cols);
  for (let b = 0; b < 64; b++) {
    for (let o = 0; o < L; o++) {
      for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) { const t = o - 2 + j; row[c * k + j] = t >= 0 && t < L ? xc[(b * C + c) * L + t] : 0; }
      for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) ref[i * cols + j] += row[i] * row[j];
      rows++;
    }
  }
  let worst = 0;
  let scale = 0;
  // gptq.py normalises by samples (nsamples counts batch items), not by rows
  for (let i = 0; i < ref.length; i++) { const r = (2 * ref[i]) / 64; worst = Math.max(worst, Math.abs(h[i] - r)); scale = Math.max(scale, Math.abs(r)); }
  expect(worst / scale).toBeLessThan(1e-9);

  const opts = resolveQuantizeOptions({ bits: 4 });
  const gm = m.clone();
  const gptq = await reconstructForQuantize(gm, { ...opts, method: 'gptq' }, { data: calib });
  const rtn = await reconstructForQuantize(m.clone(), { ...opts, method: 'rtn' }, { data: calib, samples: 4 });
  expect(gptq.report.layers.map((l) => [l.name, l.method, l.fallback])).toEqual([['c1.weight', 'gptq', undefined], ['c2.weight', 'gptq', undefined]]);
  const errs = await heldOutErrors(m, gptq.layers, [gptq.dequantized, rtn.dequantized], held, 32);
  console.log(`Conv1D GPTQ/RTN held-out: ${[...errs].map(([n, [g, r]]) => `${n} ${(g / r).toFixed(3)}`).join(', ')}`);
  for (const [n, [g, r]] of errs) expect([n, g < r]).toEqual([n, true]);
  runPass(quantizePass(gptq.options), gm, { toolVersion: 'test' });
  const s = await ort.InferenceSession.create(encodeOnnx(gm));
  const out = await s.run({ x: new ort.Tensor('float32', signals(2, 3), [2, C, L]) });
  expect(out.y.dims).toEqual([2, M2, L / 2]);
});
