/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * `mc quantize` end to end: the built binary on models written to a temp
 * folder (an ONNX MLP built in the test, a stock-tfjs layers model), results
 * run in the stock runtimes.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnx } from '../../src/formats/onnx';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { runMc, tempDir } from '../helpers/cli-run';
import { mlp, randomFloats, runOrt, sqnr } from './helpers';

describe('mc quantize on ONNX', () => {
  const dir = tempDir('mc-quantize-');
  const model = path.join(dir, 'model.onnx');
  beforeAll(() => saveOnnx(mlp(256, 128, 64), model));

  test('default output name, human report, result runs in ORT', async () => {
    const r = runMc(['quantize', model, '--bits', '8'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = path.join(dir, 'model.int8.onnx');
    expect(r.stdout).toMatch(/w1\s+\[256,128\]\s+MatMul\s+DequantizeLinear int8 axis=1\s+8\s+\d+\.\d/);
    expect(r.stdout).toMatch(/model .* → .*/);
    expect(r.stdout).toContain(`wrote ${out} (opened in onnxruntime)`);
    const x = { x: { data: randomFloats(4 * 256, 3), dims: [4, 256] } };
    const ref = (await runOrt(new Uint8Array(fs.readFileSync(model)), x))[0];
    const got = (await runOrt(new Uint8Array(fs.readFileSync(out)), x))[0];
    expect(sqnr(ref, got)).toBeGreaterThan(40);
    expect(fs.statSync(out).size / fs.statSync(model).size).toBeLessThan(0.27);
  });

  test('--json rows and sizes; int4 default name; two runs are byte-identical', () => {
    // --backup-bits none: every MatMul int4 (by default the last layer, w2, stays int8: test/quantize-backup).
    const a = runMc(['quantize', model, '--bits', '4', '--backup-bits', 'none', '--json'], { cwd: dir });
    expect(a.code).toBe(0);
    const j = JSON.parse(a.stdout);
    expect(j.output).toBe(path.join(dir, 'model.int4.onnx'));
    expect(j.report.tensors).toHaveLength(2);
    for (const t of j.report.tensors) {
      expect(t.form).toMatch(/^MatMulNBits int4 block=32$/);
      expect(t.sqnrDb).toBeGreaterThan(15);
      expect(t.bytesAfter / t.bytesBefore).toBeLessThanOrEqual(0.16);
    }
    expect(j.size.after.bytes).toBe(fs.statSync(j.output).size);
    expect(j.verified).toBe(true);
    const b = runMc(['quantize', model, '--bits', '4', '--backup-bits', 'none', '-o', path.join(dir, 'again.onnx')], { cwd: dir });
    expect(b.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'again.onnx')).equals(fs.readFileSync(j.output))).toBe(true);
  });

  test('refuses to overwrite the input without --force; bad flags are usage errors', () => {
    const before = fs.readFileSync(model);
    const r = runMc(['quantize', model, '--bits', '8', '-o', model], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is the input; pass --force/);
    expect(fs.readFileSync(model).equals(before)).toBe(true);
    expect(runMc(['quantize', model, '--bits', '3'], { cwd: dir }).stderr).toMatch(/--bits must be 8 or 4/);
    expect(runMc(['quantize', model, '--bits', '4', '--mode', 'dynamic'], { cwd: dir }).code).toBe(2);
    expect(runMc(['quantize', model, '--bits', '8', '--symmetric', '--asymmetric'], { cwd: dir }).stderr).toMatch(/exclude each other/);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('mc quantize on a stock tfjs layers model', () => {
  const dir = tempDir('mc-quantize-tfjs-');
  const src = path.join(dir, 'm');
  const x = tf.tensor4d(Array.from({ length: 4 * 64 }, (_, i) => Math.cos(i * 0.37)), [4, 8, 8, 1]);
  async function predict(d: string): Promise<Float32Array> {
    const m = await tf.loadLayersModel(tfjsFileHandler(d));
    const y = m.predict(x) as tf.Tensor;
    const out = y.dataSync() as Float32Array;
    y.dispose();
    m.dispose();
    return out;
  }
  const manifest = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'model.json'), 'utf8')).weightsManifest[0].weights as { name: string; quantization?: { dtype: string; min?: number; scale?: number } }[];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
    m.add(tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
    await m.save(tfjsFileHandler(src));
    m.dispose();
  });

  test('--bits 8: uint8 stored quantization that stock tfjs loads, outputs close', async () => {
    const r = runMc(['quantize', src, '--bits', '8', '--min-elements', '0', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.output).toBe(`${src}-int8`);
    const q = manifest(j.output);
    const kernels = q.filter((w) => w.name.endsWith('kernel'));
    expect(kernels).toHaveLength(3);
    for (const k of kernels) expect(k.quantization?.dtype).toBe('uint8');
    for (const b of q.filter((w) => w.name.endsWith('bias'))) expect(b.quantization).toBeUndefined();
    const ref = await predict(src);
    const got = await predict(j.output);
    expect(sqnr(ref, got)).toBeGreaterThan(30);
  });

  test('--bits 4 says only gzip shrinks; float16 and auto', async () => {
    const r = runMc(['quantize', src, '--bits', '4', '--min-elements', '0'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no smaller than with --bits 8; only the gzip-compressed size shrinks/);
    expect(r.stdout).toMatch(/gzip .* → /);
    const got4 = await predict(`${src}-int4`);
    expect(sqnr(await predict(src), got4)).toBeGreaterThan(10);
    const h = runMc(['quantize', src, '--bits', '8', '--tfjs-dtype', 'float16', '--min-elements', '0', '-o', path.join(dir, 'h')], { cwd: dir });
    expect(h.code).toBe(0);
    expect(manifest(path.join(dir, 'h')).filter((w) => w.quantization).every((w) => w.quantization!.dtype === 'float16')).toBe(true);
    expect(sqnr(await predict(src), await predict(path.join(dir, 'h')))).toBeGreaterThan(60);
    // auto with an impossible bound keeps every tensor wide (uint16 or float16).
    const a = runMc(['quantize', src, '--bits', '8', '--min-elements', '0', '--min-weight-sqnr', '60', '-o', path.join(dir, 'a'), '--json'], { cwd: dir });
    const rows = JSON.parse(a.stdout).report.tensors as { bits: number; form: string; sqnrDb: number }[];
    for (const row of rows) expect(row.bits === 16 || row.sqnrDb >= 60).toBe(true);
    expect(rows.some((row) => row.bits === 16)).toBe(true);
  });
});

describe('mc quantize with --eval-data: the eval gate', () => {
  const dir = tempDir('mc-quantize-gate-');
  const fixtures = path.join(__dirname, '..', '..', 'fixtures');
  const model = path.join(fixtures, 'mlp.onnx');
  const data = ['--eval-data', path.join(fixtures, 'eval-x.npy'), '--labels', path.join(fixtures, 'eval-y.npy')];

  test('budgets that hold exit 0 and the report shows the accuracy of both models', () => {
    const out = path.join(dir, 'ok.onnx');
    const r = runMc(['quantize', model, '--bits', '8', '-o', out, ...data, '--max-accuracy-drop', '1', '--min-agreement', '0.98', '--max-size-ratio', '0.3'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/top-1 accuracy\s+\d+\.\d+%\s+\d+\.\d+%/);
    expect(r.stdout).toMatch(/pass\s+max-accuracy-drop/);
    expect(fs.existsSync(out)).toBe(true);
  });

  test('a broken budget exits 1 and names it; --json carries the eval report', () => {
    const out = path.join(dir, 'broken.onnx');
    const r = runMc(['quantize', model, '--bits', '4', '-o', out, ...data, '--min-sqnr', '200', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/budget broken: --min-sqnr measured [\d.]+, limit ≥ 200/);
    const j = JSON.parse(r.stdout);
    expect(j.eval.budgets).toEqual([expect.objectContaining({ name: 'min-sqnr', limit: 200, passed: false })]);
    expect(j.eval.candidate.accuracy.top1).toBeGreaterThan(0.8);
  });

  test('a budget without --eval-data is a usage error, exit 2, nothing written', () => {
    const out = path.join(dir, 'none.onnx');
    const r = runMc(['quantize', model, '--bits', '8', '-o', out, '--max-accuracy-drop', '1'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/need --eval-data/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
