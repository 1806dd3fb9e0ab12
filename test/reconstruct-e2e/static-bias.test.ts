/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Bias correction for static int8 (issue 12: "This works for static int8 as
 * well"), on the fixture CNN: the static step with and without
 * biasCorrection, the same settings otherwise (small layers pinned int8, no
 * space-to-depth: no timing decides anything), calibrated on calib-x.npy (256
 * images) and judged by onnxruntime on the 1,000 eval images (not calibration
 * images):
 *  - the mean output shift per logit channel, |E[y_int8 − y_float]| averaged
 *    over channels, does not grow;
 *  - top-1 does not drop by more than 0.1 point;
 *  - the written biases are the float ones moved by (W − Ŵ)·E[x]: checked here
 *    on conv1 against a plain transcription (E[x] of conv1's input is the mean
 *    padded image patch, computed in the test from the calibration images).
 */
import * as path from 'path';
import { loadModel } from '../../src/formats';
import type { Model, Node, Value } from '../../src/ir';
import { runPass } from '../../src/passes';
import { foldBatchNormalization } from '../../src/passes/fold-batchnorm';
import { quantizeStaticModel } from '../../src/pipeline/static';
import { CALIB, FIX, meanShift, outputsOn, readNpy, top1 } from './helpers';

jest.setTimeout(300_000);

const options = { smallLayers: 'int8' as const, spaceToDepthPooling: false };

test('static int8 CNN: bias correction does not grow the mean output shift per channel, and top-1 drops by at most 0.1 point', async () => {
  const float = loadModel(path.join(FIX, 'cnn.onnx'));
  const plain = float.clone();
  const r0 = await quantizeStaticModel(plain, options, { data: CALIB });
  const corrected = float.clone();
  const r1 = await quantizeStaticModel(corrected, { ...options, biasCorrection: true }, { data: CALIB });
  expect(r0.transformations.some((t) => t.startsWith('bias correction'))).toBe(false);
  expect(r1.transformations).toContain('bias correction: 5 bias(es) shifted by (W − Ŵ)·E[x] with Ŵ the int8 weight, E[x] over 256 calibration samples (the statistics run)');
  expect(r1.warnings.filter((w) => w.startsWith('bias correction'))).toEqual([]);
  const f = await outputsOn(float);
  const p = await outputsOn(plain);
  const c = await outputsOn(corrected);
  const shift = { plain: meanShift(p.y, f.y, f.classes), corrected: meanShift(c.y, f.y, f.classes) };
  const t = { float: top1(f.y, f.classes), plain: top1(p.y, p.classes), corrected: top1(c.y, c.classes) };
  console.log(`static int8 cnn.onnx, 1,000 eval images: mean |shift| per logit ${shift.plain.toFixed(4)} → ${shift.corrected.toFixed(4)} with bias correction; top-1 float ${t.float.toFixed(1)}, int8 ${t.plain.toFixed(1)}, int8 + bias correction ${t.corrected.toFixed(1)}`);
  expect(shift.corrected).toBeLessThanOrEqual(shift.plain);
  expect(t.corrected).toBeGreaterThanOrEqual(t.plain - 0.1);
});

test('conv1 (one input channel, pads 1): the written bias moved by (W − Ŵ)·E[x], transcribed here', async () => {
  const float = loadModel(path.join(FIX, 'cnn.onnx'));
  const corrected = float.clone();
  await quantizeStaticModel(corrected, { ...options, biasCorrection: true }, { data: CALIB });
  const plain = float.clone();
  await quantizeStaticModel(plain, options, { data: CALIB });
  const conv1 = (m: Model): Node => m.graph.nodes.find((n) => n.opType === 'Conv' && n.name === 'conv1/Conv')!;
  /** DequantizeLinear's constant input, dequantized (per channel along axis 0, or per tensor). */
  const dequant = (v: Value): { values: Float32Array; shape: number[] } => {
    const dq = v.producer!;
    const q = dq.inputs[0]!.const!;
    const s = dq.inputs[1]!.const!.toFloat32();
    const inner = q.shape.slice(1).reduce((a, b) => a * b, 1);
    return { values: Float32Array.from(q.toFloat32(), (x, i) => x * s[s.length > 1 ? Math.floor(i / inner) : 0]), shape: [...q.shape] };
  };
  const wq = dequant(conv1(corrected).inputs[1]!);
  expect(Array.from(dequant(conv1(plain).inputs[1]!).values)).toEqual(Array.from(wq.values));
  const bc = dequant(conv1(corrected).inputs[2]!).values;
  const bp = dequant(conv1(plain).inputs[2]!).values;
  // W: conv1 after BatchNormalization folding (the static step's first rewrite), [32, 1, 3, 3]
  const folded = float.clone();
  runPass(foldBatchNormalization, folded, { toolVersion: 'test' });
  const w = conv1(folded).inputs[1]!.const!.toFloat32();
  // the static pass pads conv1's input to 4 channels with zeros: channel 0 of the [32, 4, 3, 3] int8 weight is W's
  const [m, cp, kh, kw] = wq.shape;
  // E[x] over the 3×3 patches of the 256 calibration images, zero padding 1, stride 1
  const x = readNpy(CALIB);
  const [n, , h, wd] = x.shape;
  const data = x.data as Float32Array;
  const mean = new Float64Array(kh * kw);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < wd; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const y = oy - 1 + ky;
            const xx = ox - 1 + kx;
            if (y >= 0 && y < h && xx >= 0 && xx < wd) mean[ky * kw + kx] += data[(b * h + y) * wd + xx];
          }
        }
      }
    }
  }
  for (let i = 0; i < mean.length; i++) mean[i] /= n * h * wd;
  // both biases are int32 at scale s_x·s_w[o], each rounded once: they differ from b + δ and b by half a step at most
  const step = conv1(corrected).inputs[2]!.producer!.inputs[1]!.const!.toFloat32();
  let worst = 0;
  let size = 0;
  for (let o = 0; o < m; o++) {
    let d = 0;
    for (let k = 0; k < kh * kw; k++) d += (w[o * kh * kw + k] - wq.values[o * cp * kh * kw + k]) * mean[k];
    worst = Math.max(worst, Math.abs(bc[o] - bp[o] - d) / step[o]);
    size = Math.max(size, Math.abs(d) / step[o]);
  }
  console.log(`conv1: largest bias shift ${size.toFixed(1)} int32 steps, largest difference from the transcription ${worst.toFixed(3)} steps`);
  expect(size).toBeGreaterThan(10);
  expect(worst).toBeLessThanOrEqual(1.0001);
});
