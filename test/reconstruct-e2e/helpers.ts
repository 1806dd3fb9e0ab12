/** Shared by the reconstruction end-to-end tests: fixture data, onnxruntime runs, held-out output errors. */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { parseNpyHeader } from '../../src/data';
import { encodeOnnx } from '../../src/formats/onnx/codec';
import type { Model } from '../../src/ir';
import { layerHessians, outputError } from '../../src/pipeline/reconstruct';
import { ReconstructLayer, weightRows } from '../../src/pipeline/reconstruct-schedule';
import { runOnce } from '../helpers/onnx-ort';

export const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
export const CALIB = path.join(FIX, 'calib-x.npy');
export const EVAL_X = path.join(FIX, 'eval-x.npy');
export const EVAL_Y = path.join(FIX, 'eval-y.npy');

export function readNpy(file: string): { shape: number[]; data: Float32Array | BigInt64Array } {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const h = parseNpyHeader(bytes, file);
  const body = bytes.slice(h.dataOffset);
  return { shape: h.shape, data: h.dtype === 'int64' ? new BigInt64Array(body.buffer) : new Float32Array(body.buffer) };
}

/** The model's single output on every eval image, [N, classes]. */
export async function outputsOn(model: Model, x = readNpy(EVAL_X)): Promise<{ y: Float32Array; classes: number }> {
  const input = model.graph.inputs[0].name;
  const out = await runOnce(encodeOnnx(model), { [input]: new ort.Tensor('float32', x.data as Float32Array, x.shape) });
  const t = Object.values(out)[0];
  return { y: t.data as Float32Array, classes: t.dims[t.dims.length - 1] };
}

export function top1(y: Float32Array, classes: number, labels = readNpy(EVAL_Y).data as BigInt64Array): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (y[i * classes + c] > y[i * classes + best]) best = c;
    if (BigInt(best) === labels[i]) right++;
  }
  return (100 * right) / labels.length;
}

/** Mean over output channels of |E[y_q − y_f]| (the mean output shift per channel). */
export function meanShift(yq: Float32Array, yf: Float32Array, classes: number): number {
  const n = yf.length / classes;
  let s = 0;
  for (let c = 0; c < classes; c++) {
    let d = 0;
    for (let i = 0; i < n; i++) d += yq[i * classes + c] - yf[i * classes + c];
    s += Math.abs(d / n);
  }
  return s / classes;
}

/** ‖(W − Ŵ)X‖² per layer (up to 2/N) with X the float model's layer inputs on `data`, for each dequantized set. */
export async function heldOutErrors(
  model: Model, layers: readonly ReconstructLayer[], sets: readonly Map<string, Float32Array>[], data: string, samples: number,
): Promise<Map<string, number[]>> {
  const hs = await layerHessians(model, layers, data, { samples });
  const out = new Map<string, number[]>();
  for (const l of layers) {
    const w = l.node.inputs[1]!.const!.toFloat32();
    const errs = sets.map((set) => {
      const wq = set.get(l.name)!;
      let e = 0;
      for (let g = 0; g < l.groups; g++) {
        e += outputError(weightRows(l, w, g), wq.subarray(g * l.rows * l.cols, (g + 1) * l.rows * l.cols), l.rows, l.cols, hs.get(l.name)![g]);
      }
      return e;
    });
    out.set(l.name, errs);
  }
  return out;
}
