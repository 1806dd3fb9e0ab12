/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Quantize every Fashion-MNIST fixture (fixtures/manifest.json) in every
 * output form, run the result in the stock runtime (onnxruntime-node; stock
 * tfjs loadLayersModel/loadGraphModel) on the 1000-image eval set, and compare
 * with the float model: int8 top-1 agreement ≥ 99% and logits SQNR ≥ 30 dB;
 * int4 accuracy drop ≤ 2 points.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import { loadTfjs, saveTfjs } from '../../src/formats/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { QuantizeOptions, quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { argmax, sqnr, top1Agreement } from './helpers';

const FIX = path.join(__dirname, '..', '..', 'fixtures');
interface FormatSpec { path: string; outputName?: string; accuracy: number }
const manifest = JSON.parse(fs.readFileSync(path.join(FIX, 'manifest.json'), 'utf8')) as {
  models: Record<string, { formats: Record<string, FormatSpec> }>;
};

function npy(file: string): { data: Uint8Array; shape: number[]; descr: string } {
  const b = fs.readFileSync(path.join(FIX, file));
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  const shape = (/'shape': \(([^)]*)\)/.exec(header)![1]).split(',').filter((s) => s.trim()).map(Number);
  const descr = /'descr': '([^']*)'/.exec(header)![1];
  return { data: new Uint8Array(b.buffer.slice(b.byteOffset + 10 + len, b.byteOffset + b.byteLength)), shape, descr };
}
const xNchw = npy('eval-x.npy');
// The tfjs models take [N,28,28,1]: with one channel, the same bytes as the NCHW file.
const xNhwc = { ...xNchw, shape: [xNchw.shape[0], 28, 28, 1] };
const labels = (() => { const y = npy('eval-y.npy'); return Array.from(new BigInt64Array(y.data.buffer), Number); })();
const floats = (a: { data: Uint8Array }) => new Float32Array(a.data.buffer, a.data.byteOffset, a.data.byteLength / 4);

function accuracy(logits: Float32Array): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (argmax(logits, i * 10, 10) === labels[i]) ok++;
  return ok / labels.length;
}

const CTX = { toolVersion: 'test' };
const onnxCases: [string, Partial<QuantizeOptions>][] = [
  ['int8 weight per-channel', { bits: 8 }],
  ['int8 dynamic', { bits: 8, mode: 'dynamic' }],
  ['int4 matmulnbits', { bits: 4 }],
  ['int4 qdq', { bits: 4, int4Format: 'qdq' }],
];

async function ortLogits(bytes: Uint8Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', floats(xNchw), xNchw.shape) });
  const r = out[s.outputNames[0]].data as Float32Array;
  await s.release();
  return r;
}

for (const [name, model] of Object.entries(manifest.models)) {
  const onnxSpec = model.formats.onnx;
  if (onnxSpec) {
    describe(`${name}.onnx`, () => {
      const file = path.join(FIX, onnxSpec.path);
      let ref: Float32Array;
      beforeAll(async () => { ref = await ortLogits(new Uint8Array(fs.readFileSync(file))); });
      test('float model reproduces the manifest accuracy', () => expect(accuracy(ref)).toBeCloseTo(onnxSpec.accuracy, 3));
      test.each(onnxCases)('%s', async (_label, o) => {
        const m = loadOnnx(file);
        const rep = runPass(quantizePass(resolveQuantizeOptions(o)), m, CTX).changes;
        expect(rep.tensors.length).toBeGreaterThan(0);
        const got = await ortLogits(encodeOnnx(m));
        const ratio = rep.weightBytesAfter / rep.weightBytesBefore;
        if (o.bits === 8) {
          expect(top1Agreement(ref, got, 10)).toBeGreaterThanOrEqual(0.99);
          expect(sqnr(ref, got)).toBeGreaterThanOrEqual(30);
          if (o.mode !== 'dynamic') expect(ratio).toBeLessThanOrEqual(0.26);
        } else {
          expect(Math.round((accuracy(ref) - accuracy(got)) * labels.length)).toBeLessThanOrEqual(20);
          expect(ratio).toBeLessThanOrEqual(0.16);
        }
      });
    });
  }
  for (const kind of ['tfjs-layers', 'tfjs-graph'] as const) {
    const spec = model.formats[kind];
    if (!spec) continue;
    describe(`${name} ${kind}`, () => {
      const src = path.join(FIX, path.dirname(spec.path));
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-quantize-fixture-'));
      async function logits(dir: string): Promise<Float32Array> {
        const x = tf.tensor(floats(xNhwc), xNhwc.shape);
        let y: tf.Tensor;
        let dispose: () => void;
        if (kind === 'tfjs-layers') {
          const m = await tf.loadLayersModel(tfjsFileHandler(dir));
          y = m.predict(x) as tf.Tensor;
          dispose = () => m.dispose();
        } else {
          const m = await tf.loadGraphModel(tfjsFileHandler(dir));
          y = m.predict(x) as tf.Tensor;
          dispose = () => m.dispose();
        }
        const out = new Float32Array(await y.data() as Float32Array);
        tf.dispose([x, y]);
        dispose();
        return out;
      }
      let ref: Float32Array;
      beforeAll(async () => {
        await initTfjs();
        ref = await logits(src);
      });
      afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
      test.each([
        ['uint8', { bits: 8, tfjsDtype: 'uint8' }],
        ['uint16', { bits: 8, tfjsDtype: 'uint16' }],
        ['float16', { bits: 8, tfjsDtype: 'float16' }],
        ['auto', { bits: 8, tfjsDtype: 'auto' }],
        ['4-bit levels', { bits: 4, tfjsDtype: 'uint8' }],
      ] as [string, Partial<QuantizeOptions>][])('%s', async (label, o) => {
        const m = loadTfjs(src);
        const rep = runPass(quantizePass(resolveQuantizeOptions(o)), m, CTX).changes;
        expect(rep.tensors.length).toBeGreaterThan(0);
        const out = path.join(tmp, label);
        saveTfjs(m, out);
        const entries = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).weightsManifest[0].weights as { quantization?: { dtype: string } }[];
        const stored = entries.filter((e) => e.quantization).map((e) => e.quantization!.dtype);
        expect(stored).toHaveLength(rep.tensors.length);
        if (o.tfjsDtype !== 'auto') expect(new Set(stored)).toEqual(new Set([o.tfjsDtype]));
        const got = await logits(out);
        if (o.bits === 8) {
          expect(top1Agreement(ref, got, 10)).toBeGreaterThanOrEqual(0.99);
          expect(sqnr(ref, got)).toBeGreaterThanOrEqual(30);
        } else {
          // Compared in images (1000 → 2 points = 20) to stay clear of float rounding of the difference.
          expect(Math.round((accuracy(ref) - accuracy(got)) * labels.length)).toBeLessThanOrEqual(20);
        }
      });
    });
  }
}
