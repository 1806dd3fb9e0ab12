/**
 * The streaming weight-only path (pipeline/weight-stream.ts: worker threads, SIMD kernel,
 * built tensors parked in a spill file) against the plain one: the built mc quantizes a
 * 4-layer external-data model (MatMul 1024×1024) to int8 and int4; the reference is the
 * library's quantizeModel on this thread with the JS loops (useScalarWeightLoops) and no
 * stream, saved with external data. The data files must be the same bytes and the models
 * the same messages once mc quantize's recipe metadata is dropped; the
 * output folder must hold nothing else (no spill left), and the result must run in
 * onnxruntime with outputs equal to the reference's.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeOnnx, loadOnnx, saveOnnx } from '../../src/formats/onnx';
import { resolveQuantizeOptions } from '../../src/passes';
import { useScalarWeightLoops } from '../../src/passes/quantize/weight-kernel';
import { liftWeights, quantizeModel } from '../../src/pipeline/quantize';
import { assertBuilt, BIN } from '../helpers/cli-run';
import { seeded, writeMatmulChain } from './model';

jest.setTimeout(120_000);

let dir: string;
let input: string;

beforeAll(() => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-stream-'));
  input = path.join(dir, 'chain.onnx');
  writeMatmulChain(input, 4, 1024);
});

afterAll(() => {
  useScalarWeightLoops(false);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function outputs(file: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file);
  const x = seeded(2 * 1024, 99).map((v) => v * 20);
  const r = await s.run({ x: new ort.Tensor('float32', x, [2, 1024]) });
  await s.release();
  return r.y.data as Float32Array;
}

test.each([8, 4] as const)('mc quantize --bits %i on external data: the same bytes as the plain single-thread JS path', async (bits) => {
  const outDir = path.join(dir, `cli${bits}`);
  fs.mkdirSync(outDir);
  const out = path.join(outDir, 'q.onnx');
  const r = spawnSync(process.execPath, [BIN, 'quantize', input, '-o', out, '--bits', String(bits), '--no-output-check'], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(fs.readdirSync(outDir).sort()).toEqual(['q.onnx', 'q.onnx.data']);

  const refDir = path.join(dir, `ref${bits}`);
  fs.mkdirSync(refDir);
  const ref = path.join(refDir, 'q.onnx');
  useScalarWeightLoops(true);
  const model = loadOnnx(input);
  liftWeights(model);
  await quantizeModel(model, resolveQuantizeOptions({ bits }), { label: input });
  saveOnnx(model, ref, { externalData: true });
  useScalarWeightLoops(false);

  expect(fs.readFileSync(`${out}.data`).equals(fs.readFileSync(`${ref}.data`))).toBe(true);
  // The model files differ only by the recipe mc quantize records (plan/run.ts): drop it, then compare whole messages.
  const cli = loadOnnx(out);
  cli.metadataProps = cli.metadataProps.filter((p) => !p.key.startsWith('mc.recipe'));
  expect(cli.metadataProps.length).toBeGreaterThan(0);
  expect(Buffer.from(encodeOnnx(cli)).equals(Buffer.from(encodeOnnx(loadOnnx(ref))))).toBe(true);
  expect(Array.from(await outputs(out))).toEqual(Array.from(await outputs(ref)));
});

test('the built library quantizes on worker threads and parks what it builds (the path compared above)', () => {
  // In a child process over dist/: the worker script exists only there (under ts-jest weights are quantized on this thread).
  const out = path.join(dir, 'lib', 'q.onnx');
  fs.mkdirSync(path.dirname(out));
  const script = `
    const path = require('path');
    const dist = ${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))};
    const { loadOnnx, saveOnnx } = require(path.join(dist, 'formats', 'onnx'));
    const { resolveQuantizeOptions } = require(path.join(dist, 'passes'));
    const { liftWeights, quantizeModel } = require(path.join(dist, 'pipeline', 'quantize.js'));
    const { WeightStream } = require(path.join(dist, 'pipeline', 'weight-stream.js'));
    (async () => {
      const model = loadOnnx(${JSON.stringify(input)});
      liftWeights(model);
      const stream = new WeightStream({ spillDir: ${JSON.stringify(path.dirname(out))}, threads: 2 });
      await quantizeModel(model, resolveQuantizeOptions({ bits: 8 }), { label: 'x', stream });
      saveOnnx(model, ${JSON.stringify(out)}, { externalData: true });
      stream.removeSpill();
      console.log(JSON.stringify(stream.counts));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  const counts = JSON.parse(r.stdout.trim()) as { threaded: number; local: number; parked: number; parkedBytes: number };
  expect(counts).toEqual({ threaded: 4, local: 0, parked: 4, parkedBytes: 4 * 1024 * 1024 });
  expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(['q.onnx', 'q.onnx.data']);
  expect(fs.readFileSync(`${out}.data`).equals(fs.readFileSync(path.join(dir, 'ref8', 'q.onnx.data')))).toBe(true);
});
