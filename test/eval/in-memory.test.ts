/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * evaluate() on models in memory gives the report that the same models,
 * written to files and passed by path, give (accuracy, fidelity, size), for
 * ONNX and tfjs; the Evaluator (one baseline, many candidates) gives the same
 * report as evaluate() for each candidate.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel, saveModel } from '../../src/formats';
import { Model, Tensor } from '../../src/ir';
import { evaluate, Evaluator, type EvalReport } from '../../src/eval';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { PRUNE_DEFAULTS, prunePass } from '../../src/passes/prune';
import { encodeInline } from '../../src/runtime';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const data = path.join(FIX, 'eval-x.npy');
const labels = path.join(FIX, 'eval-y.npy');
const ctx = { toolVersion: 'test' };

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-eval-mem-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const quantized = (m: Model, bits: 8 | 4): Model => {
  const c = m.clone();
  runPass(quantizePass(resolveQuantizeOptions({ bits })), c, ctx);
  return c;
};
const pruned = (m: Model, sparsity: number): Model => {
  const c = m.clone();
  runPass(prunePass({ ...PRUNE_DEFAULTS, sparsity }), c, ctx);
  return c;
};

describe.each([['cnn.onnx', 'cnn-int4.onnx', 300], ['cnn-graph', 'cnn-graph-int4', 200]])('%s', (fixture, outName, samples) => {
  const common = { data, labels, runs: 0, samples };

  test('a model in memory gets the report it gets written to a file and passed by path', async () => {
    const floatPath = path.join(FIX, fixture);
    const float = loadModel(floatPath);
    const cand = quantized(float, 4);
    const file = path.join(dir, outName);
    saveModel(cand, file);
    const byPath = await evaluate({ ...common, candidate: file, baseline: floatPath });
    const inMemory = await evaluate({ ...common, candidate: cand, candidateName: file, baseline: float, baselineName: floatPath });
    expect(inMemory).toEqual(byPath);
    // Not vacuous: both read the data, and int4 changed the outputs and the size.
    expect(byPath.candidate.accuracy!.samples).toBe(samples);
    expect(byPath.candidate.fidelity!.sqnrDb).not.toBeNull();
    expect(byPath.candidate.size.bytes).toBeLessThan(byPath.baseline!.size.bytes);
    const onDisk = fs.statSync(file).isDirectory() ? fs.readdirSync(file).reduce((s, f) => s + fs.statSync(path.join(file, f)).size, 0) : fs.statSync(file).size;
    expect(inMemory.candidate.size.bytes).toBe(onDisk);
  });

  test('the Evaluator gives each candidate the report evaluate() gives it, baseline run once', async () => {
    const floatPath = path.join(FIX, fixture);
    const float = loadModel(floatPath);
    const candidates = [quantized(float, 8), pruned(float, 0.5)];
    const ev = await Evaluator.create({ ...common, baseline: float, baselineName: floatPath });
    try {
      const reports: EvalReport[] = [];
      for (const [i, c] of candidates.entries()) reports.push(await ev.evaluate(c, { name: `variant-${i}` }));
      for (const [i, c] of candidates.entries()) {
        expect(reports[i]).toEqual(await evaluate({ ...common, candidate: c, candidateName: `variant-${i}`, baseline: float, baselineName: floatPath }));
      }
      expect(reports[0].candidate.fidelity!.sqnrDb).not.toEqual(reports[1].candidate.fidelity!.sqnrDb);
    } finally {
      await ev.dispose();
    }
  });
});

test('--per-layer on models in memory: the report the files give, and the models are left as they were', async () => {
  const floatPath = path.join(FIX, 'cnn.onnx');
  const float = loadModel(floatPath);
  const cand = quantized(float, 8);
  const file = path.join(dir, 'cnn-int8-per-layer.onnx');
  saveModel(cand, file);
  const before = [float.graph.outputs.length, cand.graph.outputs.length];
  const o = { data, runs: 0, samples: 32, perLayer: true };
  const inMemory = await evaluate({ ...o, candidate: cand, candidateName: file, baseline: float, baselineName: floatPath });
  expect(inMemory).toEqual(await evaluate({ ...o, candidate: file, baseline: floatPath }));
  expect(inMemory.candidate.fidelity!.layersCompared).toBeGreaterThan(0);
  expect([float.graph.outputs.length, cand.graph.outputs.length]).toEqual(before);
});

test('the Evaluator without a baseline reads the data with the first candidate\'s inputs', async () => {
  const float = loadModel(path.join(FIX, 'mlp.onnx'));
  const ev = await Evaluator.create({ data, labels, runs: 0, samples: 100 });
  try {
    const a = await ev.evaluate(float, { name: 'mlp' });
    const b = await ev.evaluate(quantized(float, 8), { name: 'mlp-int8' });
    expect(a).toEqual(await evaluate({ data, labels, runs: 0, samples: 100, candidate: float, candidateName: 'mlp' }));
    expect(b.candidate.accuracy!.samples).toBe(100);
    expect(a.baseline).toBeNull();
  } finally {
    await ev.dispose();
  }
});

test('an in-memory ONNX model over the protobuf limit is refused with what to do', () => {
  const m = loadModel(path.join(FIX, 'mlp.onnx'));
  const huge = 3 * 2 ** 30;
  m.graph.addInitializer('huge', new Tensor('float32', [huge / 4], { kind: 'lazy', byteLength: huge, load: () => { throw new Error('not read'); } }));
  expect(() => encodeInline(m, 'big')).toThrow(/big: its weights take 3221\d+ bytes, over the 2 GiB protobuf limit.*save it with external data/);
});
