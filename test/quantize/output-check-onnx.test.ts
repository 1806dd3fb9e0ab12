/**
 * The output check on ONNX weight-only int8 and int4 (src/pipeline/verify-outputs.ts):
 * an MLP built here where 16 of the 64 columns of w2 hold a huge value on a
 * row that a dead ReLU unit never reads. Per channel, those columns' other
 * weights round to 0; the ladder (per-channel → per-block → int8 → float) must move w2, and
 * only w2, until the outputs meet the bound. Output SQNRs are recomputed in
 * onnxruntime on the written file, on inputs the check never saw.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Graph, Node, Tensor, Value } from '../../src/ir';
import { saveOnnx } from '../../src/formats/onnx';
import { quantizeFile } from '../../src/pipeline/quantize';
import { OutputCheckUnavailable } from '../../src/pipeline/verify-outputs';
import { resolveQuantizeOptions } from '../../src/passes';
import { tempDir } from '../helpers/cli-run';
import { onnxModel, randomFloats, runOrt, sqnr, weight } from './helpers';

const H = 64;
const DEAD = 5;

function fragileMlp(): ReturnType<typeof onnxModel> {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['batch', 16] });
  g.inputs.push(x);
  const w1d = randomFloats(16 * H, 11, 0.5);
  for (let i = 0; i < 16; i++) w1d[i * H + DEAD] = -Math.abs(w1d[i * H + DEAD]) - 0.1; // inputs ≥ 0: unit DEAD never fires
  const w2d = randomFloats(H * H, 12, 0.1);
  for (let j = 0; j < 16; j++) w2d[DEAD * H + j] = 100; // a quarter of the columns
  const w1 = weight(g, 'w1', [16, H], w1d);
  const w2 = weight(g, 'w2', [H, H], w2d);
  const w3 = weight(g, 'w3', [H, 16], randomFloats(H * 16, 13, 0.3));
  const v = (n: string): Value => new Value(n, { dtype: 'float32' });
  const [h1, r1, h2, r2] = [v('h1'), v('r1'), v('h2'), v('r2')];
  const y = new Value('y', { dtype: 'float32', shape: ['batch', 16] });
  g.addNode(new Node({ opType: 'MatMul', name: 'fc1', inputs: [x, w1], outputs: [h1] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu1', inputs: [h1], outputs: [r1] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc2', inputs: [r1, w2], outputs: [h2] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu2', inputs: [h2], outputs: [r2] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc3', inputs: [r2, w3], outputs: [y] }));
  g.outputs.push(y);
  return onnxModel(g, 13);
}

/** onnxruntime output SQNR of `file` against `ref` on 64 inputs in [0, 1) (seed 77, unseen by the check). */
async function ortSqnr(ref: string, file: string): Promise<number> {
  const data = randomFloats(64 * 16, 77).map((u) => (u + 1) / 2);
  const feeds = { x: { data, dims: [64, 16] } };
  const a = (await runOrt(new Uint8Array(fs.readFileSync(ref)), feeds))[0];
  const b = (await runOrt(new Uint8Array(fs.readFileSync(file)), feeds))[0];
  return sqnr(a, b);
}

describe('output check and back-off (ONNX)', () => {
  const dir = tempDir('mc-output-check-onnx-');
  const input = path.join(dir, 'mlp.onnx');
  beforeAll(() => saveOnnx(fragileMlp(), input));

  test('int8 per channel: the bound fails as is; w2 alone climbs the ladder and the bound holds in onnxruntime', async () => {
    const plain = path.join(dir, 'plain.onnx');
    await quantizeFile({ input, output: plain, quantize: resolveQuantizeOptions({ bits: 8 }), outputCheck: false });
    expect(await ortSqnr(input, plain)).toBeLessThan(30);

    const out = path.join(dir, 'checked.onnx');
    // w2 holds most of the weight bytes: where the check sends it to float, the run did less than asked.
    const r = await quantizeFile({ input, output: out, quantize: resolveQuantizeOptions({ bits: 8 }), allowPartial: true });
    const c = r.outputCheck!;
    // On this model the ladder's block rung does not reach 30 dB, so w2 ends in float (measured).
    expect(c.backedOff.map((b) => b.to)).toEqual(['float']);
    expect(r.report.skipped).toEqual([expect.objectContaining({ name: 'w2', kind: 'output-check', reason: expect.stringMatching(/^kept float by the output check on synthetic inputs/) })]);
    expect(r.report.coverage.fraction).toBeLessThan(0.9);
    await expect(quantizeFile({ input, output: path.join(dir, 'refused.onnx'), quantize: resolveQuantizeOptions({ bits: 8 }) }))
      .rejects.toThrow(/left in float: 1 kept float by the output check; nothing written/);
    expect(fs.existsSync(path.join(dir, 'refused.onnx'))).toBe(false);
    expect(c.runtime).toBe('onnxruntime');
    expect(c.before[0].sqnrDb!).toBeLessThan(30);
    expect(c.backedOff.map((b) => b.name)).toEqual(['w2']);
    expect(c.backedOff[0].from).toBe('DequantizeLinear int8 axis=1');
    expect(c.backedOff[0].to).toMatch(/^(DequantizeLinear int8 axis=0 block=32|float)$/);
    expect(c.after[0].sqnrDb!).toBeGreaterThanOrEqual(30);
    // w1 and w3 keep their per-channel int8 form.
    const forms = Object.fromEntries(r.report.tensors.map((t) => [t.name, t.form]));
    expect(forms.w1).toBe('DequantizeLinear int8 axis=1');
    expect(forms.w3).toBe('DequantizeLinear int8 axis=1');
    expect(await ortSqnr(input, out)).toBeGreaterThanOrEqual(30);
    expect(fs.statSync(out).size).toBeLessThan(fs.statSync(input).size);
  });

  test('int4 with --min-output-sqnr 30: weights climb from int4 blocks toward int8 until the bound holds', async () => {
    const plain = path.join(dir, 'plain4.onnx');
    const p = await quantizeFile({ input, output: plain, quantize: resolveQuantizeOptions({ bits: 4 }) });
    // int4 is measured, not bounded, by default.
    expect(p.outputCheck!.bound.minOutputSqnrDb).toBeUndefined();
    expect(p.outputCheck!.backedOff).toEqual([]);
    expect(await ortSqnr(input, plain)).toBeLessThan(30);

    const out = path.join(dir, 'checked4.onnx');
    const r = await quantizeFile({ input, output: out, quantize: resolveQuantizeOptions({ bits: 4 }), outputCheck: { minOutputSqnrDb: 30 }, allowPartial: true });
    const c = r.outputCheck!;
    expect(c.passed).toBe(true);
    expect(c.backedOff.map((b) => b.name)).toContain('w2');
    for (const b of c.backedOff) expect(b.to).toMatch(/^(DequantizeLinear int8 .*|float)$/);
    expect(await ortSqnr(input, out)).toBeGreaterThanOrEqual(30);
    expect(fs.statSync(out).size).toBeLessThan(fs.statSync(input).size);
  });
});

/** x['batch', 'n'] → Reshape [-1, 24] → MatMul w [24, 64]: synthetic inputs (n = 1024, not a multiple of 24) cannot be reshaped. */
function reshapeModel(): ReturnType<typeof onnxModel> {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['batch', 'n'] });
  g.inputs.push(x);
  const shape = g.addInitializer('shape', Tensor.fromArray('int64', [2], BigInt64Array.of(-1n, 24n), 'shape'));
  const w = weight(g, 'w', [24, 64], randomFloats(24 * 64, 21, 0.3));
  const r = new Value('r', { dtype: 'float32' });
  const y = new Value('y', { dtype: 'float32', shape: ['batch', 64] });
  g.addNode(new Node({ opType: 'Reshape', name: 'reshape', inputs: [x, shape], outputs: [r] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc', inputs: [r, w], outputs: [y] }));
  g.outputs.push(y);
  return onnxModel(g, 13);
}

describe('output check on a model that synthetic inputs do not fit', () => {
  const dir = tempDir('mc-output-check-unfit-');
  const input = path.join(dir, 'reshape.onnx');
  beforeAll(() => saveOnnx(reshapeModel(), input));

  test('by default the result is written with the reason the outputs were not checked', async () => {
    const out = path.join(dir, 'out.onnx');
    const r = await quantizeFile({ input, output: out, quantize: resolveQuantizeOptions({ bits: 8 }) });
    expect(r.outputCheck!.unchecked).toMatch(/^the float model fails in onnxruntime on 4 seeded synthetic sample\(s\).*pass --eval-data/);
    expect(r.outputCheck!.passed).toBe(false);
    expect(r.outputCheck!.backedOff).toEqual([]);
    expect(fs.existsSync(out)).toBe(true);
  });

  test('a check the user asked for (--min-output-sqnr) fails with exit 2 and writes nothing', async () => {
    const out = path.join(dir, 'out-required.onnx');
    const run = quantizeFile({ input, output: out, quantize: resolveQuantizeOptions({ bits: 8 }), outputCheck: { minOutputSqnrDb: 30, required: true } });
    await expect(run).rejects.toThrow(OutputCheckUnavailable);
    await expect(run).rejects.toMatchObject({ exitCode: 2 });
    expect(fs.existsSync(out)).toBe(false);
  });
});
