/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * `mc eval` end to end through the BUILT binary (node bin/mc), in a temp folder,
 * checked against independent counts made here with stock onnxruntime and tfjs.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { runMc, tempDir } from '../helpers/cli-run';
import { validate, type Schema } from './json-schema';
import { CLASSES, HW, N, toNhwc, writeEvalFixtures, writeNpy, type EvalFixtures } from './models';

const SCHEMA = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'eval.schema.json'), 'utf8')) as Schema;
const FAST = ['--runs', '3', '--warmup', '1'];

let f: EvalFixtures;
beforeAll(async () => {
  f = await writeEvalFixtures(tempDir('eval'));
  writeNpy(path.join(f.dir, 'x-rgb.npy'), '<f4', [N, HW, HW, 3], new Float32Array(N * HW * HW * 3));
});
afterAll(() => fs.rmSync(f.dir, { recursive: true, force: true }));

function argmaxCorrect(logits: Float32Array, labels: BigInt64Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < CLASSES; j++) if (logits[i * CLASSES + j] > logits[i * CLASSES + best]) best = j;
    if (BigInt(best) === labels[i]) correct++;
  }
  return correct;
}

function jsonReport(args: string[]): { code: number; report: Record<string, any>; stderr: string } {
  const r = runMc(['eval', ...args, '--json', '-'], { cwd: f.dir });
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr };
}

test('ONNX top-1 equals an independent onnxruntime count, to the sample', async () => {
  const session = await ort.InferenceSession.create(f.cnn);
  const out = await session.run({ x: new ort.Tensor('float32', f.xData, [N, 1, HW, HW]) });
  const correct = argmaxCorrect(out.logits.data as Float32Array, f.yData);
  await session.release();

  // batch 32 leaves a short last batch (200 = 6·32 + 8): streaming must count it too.
  const { code, report } = jsonReport(['cnn.onnx', '--data', 'x.npy', '--labels', 'y.npy', ...FAST]);
  expect(code).toBe(0);
  expect(report.candidate.accuracy.samples).toBe(N);
  expect(report.candidate.accuracy.top1 * N).toBeCloseTo(correct, 9);
  expect(correct).toBeGreaterThan(0);
  expect(correct).toBeLessThan(N);
  // The same samples stored [N,8,8,1] (only the size-1 axis moved) are fed as [N,1,8,8]: the same count.
  const nhwc = jsonReport(['cnn.onnx', '--data', 'x-nhwc.npy', '--labels', 'y.npy', ...FAST]);
  expect(nhwc.code).toBe(0);
  expect(nhwc.report.candidate.accuracy.top1 * N).toBeCloseTo(correct, 9);
});

test('tfjs top-1 equals an independent tfjs count, to the sample', async () => {
  const model = await tf.loadLayersModel(tfjsFileHandler(f.tfjsCnn));
  const logits = tf.tidy(() => model.predict(tf.tensor(toNhwc(f.xData, N, 1, HW, HW), [N, HW, HW, 1])) as tf.Tensor);
  const correct = argmaxCorrect((await logits.data()) as Float32Array, f.yData);
  logits.dispose();
  model.dispose();

  // x.npy is [N,1,8,8]: with one channel, the bytes of the model's [N,8,8,1], so mc feeds it as that.
  const { code, report } = jsonReport(['tfjs-cnn', '--data', 'x.npy', '--labels', 'y.npy', '--batch-size', '64', ...FAST]);
  expect(code).toBe(0);
  expect(report.candidate.format).toBe('tfjs');
  expect(report.candidate.latency.runtime).toBe('tfjs');
  expect(report.candidate.accuracy.top1 * N).toBeCloseTo(correct, 9);
});

test('a holding budget exits 0, a broken one exits 1 and names it with value and limit', () => {
  const ok = runMc(['eval', 'cnn.onnx', '--baseline', 'cnn.onnx', '--data', 'x.npy', ...FAST,
    '--max-size-ratio', '1', '--min-agreement', '1', '--min-sqnr', '60'], { cwd: f.dir });
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/pass\s+max-size-ratio\s+1 ≤ 1/);

  const bad = runMc(['eval', 'cnn.onnx', '--baseline', 'cnn.onnx', '--max-size-ratio', '0.1', '--runs', '0'], { cwd: f.dir });
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(/FAIL\s+max-size-ratio\s+1 > 0\.1/);
  expect(bad.stderr).toContain('mc: budget broken: --max-size-ratio measured 1, limit ≤ 0.1');
});

test('fidelity of a perturbed model, per-layer SQNR, and JSON that matches the schema', async () => {
  const r = runMc(['eval', 'cnn-noisy.onnx', '--baseline', 'cnn.onnx', '--data', 'x.npy', '--labels', 'y.npy', ...FAST,
    '--per-layer', '--min-sqnr', '10', '--max-accuracy-drop', '100', '--json', 'report.json', '--markdown', 'summary.md', '--junit', 'junit.xml'], { cwd: f.dir });
  expect(r.code).toBe(0);
  const report = JSON.parse(fs.readFileSync(path.join(f.dir, 'report.json'), 'utf8'));
  expect(validate(report, SCHEMA)).toEqual([]);
  // Every latency figure names the CPU it was measured on; checked against /proc/cpuinfo read here.
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  for (const side of [report.baseline, report.candidate]) {
    expect(side.latency.cpu.model).toBe(/^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1].trim() ?? null);
    const flags = (/^(flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo)?.[2] ?? '').split(/\s+/);
    for (const f of side.latency.cpu.isa) expect(flags).toContain(f);
    expect(side.latency.cpu.isa.includes('avx2')).toBe(flags.includes('avx2'));
    expect(side.latency.cpu.isa.includes('avx512_vnni')).toBe(flags.includes('avx512_vnni'));
  }

  const fid = report.candidate.fidelity;
  expect(fid.samples).toBe(N);
  expect(fid.sqnrDb).toBeGreaterThan(10);
  expect(fid.sqnrDb).toBeLessThan(80);
  expect(fid.top1Agreement).toBeGreaterThan(0.5);
  // Top-1 agreement equals the fraction of samples whose argmax the two models share, counted here by onnxruntime.
  const argmaxes = async (file: string): Promise<number[]> => {
    const session = await ort.InferenceSession.create(file);
    const logits = (await session.run({ x: new ort.Tensor('float32', f.xData, [N, 1, HW, HW]) })).logits.data as Float32Array;
    await session.release();
    return Array.from({ length: N }, (_, i) => {
      let best = 0;
      for (let j = 1; j < CLASSES; j++) if (logits[i * CLASSES + j] > logits[i * CLASSES + best]) best = j;
      return best;
    });
  };
  const [a, b] = [await argmaxes(f.cnn), await argmaxes(f.cnnNoisy)];
  const agree = a.filter((c, i) => c === b[i]).length;
  expect(agree).toBeLessThan(N); // the perturbation flips some samples, so agreement below 1 is measured, not assumed
  expect(fid.top1Agreement * N).toBeCloseTo(agree, 9);
  // Only the dense weights differ: the three shared intermediates are bit-identical (SQNR null = ∞).
  expect(fid.layersCompared).toBe(3);
  expect(fid.worstLayers.map((l: { name: string }) => l.name).sort()).toEqual(['conv_out', 'flat_out', 'relu_out']);
  expect(fid.worstLayers.every((l: { sqnrDb: number | null }) => l.sqnrDb === null)).toBe(true);
  expect(report.delta.accuracyTop1Points).toBeCloseTo((report.baseline.accuracy.top1 - report.candidate.accuracy.top1) * 100, 9);
  expect(report.budgets.map((b: { name: string; passed: boolean }) => [b.name, b.passed])).toEqual([['max-accuracy-drop', true], ['min-sqnr', true]]);

  const md = fs.readFileSync(path.join(f.dir, 'summary.md'), 'utf8');
  expect(md).toMatch(/\| top-1 accuracy \| \d+\.\d\d% \| \d+\.\d\d% \|/);
  expect(md).toContain('| `--min-sqnr` | ✅ pass |');
  expect(md).toContain(`CPU ${report.candidate.latency.cpu.model}`);
  const junit = fs.readFileSync(path.join(f.dir, 'junit.xml'), 'utf8');
  expect(junit.match(/<testcase /g)).toHaveLength(2);
  expect(junit).not.toContain('<failure');
});

test('JUnit marks the broken budget with a failure element; --json - prints only JSON', () => {
  const r = runMc(['eval', 'cnn-noisy.onnx', '--baseline', 'cnn.onnx', '--data', 'x.npy', '--runs', '0',
    '--min-sqnr', '200', '--max-size-ratio', '2', '--junit', 'broken.xml', '--json', '-'], { cwd: f.dir });
  expect(r.code).toBe(1);
  const report = JSON.parse(r.stdout);
  expect(validate(report, SCHEMA)).toEqual([]);
  expect(report.passed).toBe(false);
  expect(report.candidate.latency).toBeNull();
  const junit = fs.readFileSync(path.join(f.dir, 'broken.xml'), 'utf8');
  expect(junit).toContain('tests="2" failures="1"');
  expect(junit).toMatch(/<testcase classname="mc.eval.budgets" name="min-sqnr">\s*<failure type="BudgetBroken" message="--min-sqnr broken: [\d.]+ &lt; 200 dB"/);
  expect(junit).toContain('<testcase classname="mc.eval.budgets" name="max-size-ratio"/>');
});

test('latency of a model against itself: the blockwise ratio is within 0.8–1.25', () => {
  const { code, report } = jsonReport(['cnn.onnx', '--baseline', 'cnn.onnx', '--runs', '40', '--warmup', '5', '--batch-size', '16']);
  expect(code).toBe(0);
  expect(report.candidate.latency.input).toBe('synthetic');
  expect(report.candidate.latency.batchSize).toBe(16);
  expect(report.candidate.latency.threads).toBe(1);
  expect(report.delta.latencyRatio).toBeGreaterThan(0.8);
  expect(report.delta.latencyRatio).toBeLessThan(1.25);
});

test.each([
  ['labels of the wrong length', ['cnn.onnx', '--data', 'x.npy', '--labels', 'y-short.npy'], /y-short\.npy: 193 labels for 200 samples/],
  ['3-channel NHWC data for a 1-channel NCHW model', ['cnn.onnx', '--data', 'x-rgb.npy'], /x-rgb\.npy: input 'x' expects float32\[N,1,8,8\], got float32\[200,8,8,3\]/],
  ['a baseline with other inputs', ['cnn.onnx', '--baseline', 'other-input.onnx'], /other-input\.onnx: the baseline takes different inputs \(image: .*\) than the candidate \(x: /],
  ['a budget without a baseline', ['cnn.onnx', '--min-sqnr', '30'], /--min-sqnr needs --baseline/],
  ['a budget that is not a number', ['cnn.onnx', '--max-size-ratio', 'small'], /--max-size-ratio needs a number, got 'small'/],
])('%s → one clear line, exit 2', (_what, args, message) => {
  const r = runMc(['eval', ...args, '--runs', '0'], { cwd: f.dir });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
});
