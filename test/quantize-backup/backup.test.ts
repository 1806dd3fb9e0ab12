/**
 * Backup precision of `--bits 4` (src/passes/quantize/backup.ts): the embedding
 * table and the last layer stay int8 by default, decided from the graph (a Gather
 * table; the weight of the op producing a graph output through data movement and
 * its bias add), with a reason line each; recipes override it per step.
 *
 * The language model here is built in the test (Gather → MatMul → Relu → MatMul →
 * lm head MatMul + bias), and its labels are drawn from the float model's own
 * next-token distribution, so the float model is the true one and a model's
 * expected perplexity rises with its distance (KL) from it. Perplexity is computed
 * here from onnxruntime's logits.
 */
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeOnnx } from '../../src/formats/onnx';
import { loadModel } from '../../src/formats';
import { Graph, Model, Node, Tensor, Value } from '../../src/ir';
import { applyPlan, parseRecipe, type PlanReport } from '../../src/plan';
import { runOnce } from '../helpers/onnx-ort';
import { ROOT } from '../helpers/cli-run';
import { onnxModel, randomFloats } from '../quantize/helpers';

const V = 48, D = 64, F = 128, N = 32, T = 16;

/** Gaussian-like weights with a heavy tail (a sum of uniforms, a few values scaled up), so 4 bits cost something. */
function weights(n: number, seed: number, scale: number): Float32Array {
  const a = randomFloats(n, seed), b = randomFloats(n, seed + 1), c = randomFloats(n, seed + 2);
  return a.map((x, i) => (x + b[i] + c[i]) * scale * (i % 61 === 0 ? 4 : 1));
}

function buildLm(): Model {
  const g = new Graph();
  const ids = new Value('ids', { dtype: 'int64', shape: [N, T] });
  g.inputs.push(ids);
  const w = (name: string, shape: number[], seed: number, scale: number): Value => g.addInitializer(name, Tensor.fromArray('float32', shape, weights(shape[0] * (shape[1] ?? 1), seed, scale), name));
  const v = (name: string): Value => new Value(name);
  const [e, h1, r1, h2, z, logits] = [v('e'), v('h1'), v('r1'), v('h2'), v('z'), new Value('logits', { dtype: 'float32', shape: [N, T, V] })];
  g.addNode(new Node({ opType: 'Gather', name: 'embed', inputs: [w('tok_emb', [V, D], 11, 0.6), ids], outputs: [e] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc1', inputs: [e, w('fc1.weight', [D, F], 21, 0.15)], outputs: [h1] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [h1], outputs: [r1] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc2', inputs: [r1, w('fc2.weight', [F, D], 31, 0.12)], outputs: [h2] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'lm_head', inputs: [h2, w('lm_head.weight', [D, V], 41, 0.5)], outputs: [z] }));
  g.addNode(new Node({ opType: 'Add', name: 'lm_head_bias', inputs: [z, w('lm_head.bias', [V], 51, 0.1)], outputs: [logits] }));
  g.outputs.push(logits);
  return onnxModel(g, 17);
}

function idsTensor(): ort.Tensor {
  const r = randomFloats(N * T, 77);
  return new ort.Tensor('int64', BigInt64Array.from(r, (x) => BigInt(Math.floor(((x + 1) / 2) * V) % V)), [N, T]);
}

async function logitsOf(m: Model): Promise<Float32Array> {
  const out = await runOnce(encodeOnnx(m), { ids: idsTensor() });
  return out.logits.data as Float32Array;
}

/** Next tokens drawn (seeded) from the float model's softmax. */
function sampleLabels(logits: Float32Array): Int32Array {
  const u = randomFloats(N * T, 99);
  const labels = new Int32Array(N * T);
  for (let i = 0; i < N * T; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const max = Math.max(...row);
    const p = Array.from(row, (x) => Math.exp(x - max));
    const sum = p.reduce((a, b) => a + b, 0);
    let acc = 0, k = 0;
    const target = ((u[i] + 1) / 2) * sum;
    for (; k < V - 1; k++) { acc += p[k]; if (acc >= target) break; }
    labels[i] = k;
  }
  return labels;
}

function perplexity(logits: Float32Array, labels: Int32Array): number {
  let nll = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(Array.from(row, (x) => Math.exp(x - max)).reduce((a, b) => a + b, 0));
    nll += lse - row[labels[i]];
  }
  return Math.exp(nll / labels.length);
}

async function quantized(recipe: string, model: Model = buildLm()): Promise<{ model: Model; report: PlanReport }> {
  const report = await applyPlan(model, parseRecipe(recipe, 'r.yaml', '.'), { label: 'lm' });
  return { model, report };
}

function bitsOf(r: PlanReport): Record<string, number | 'float'> {
  const res = r.results.find((x) => x.kind === 'quantize')!;
  if (res.kind !== 'quantize') throw new Error('no quantize result');
  const out: Record<string, number | 'float'> = {};
  for (const t of res.report.tensors) out[t.name] = t.bits;
  for (const s of res.report.skipped) out[s.name] = 'float';
  return out;
}

function backupOf(r: PlanReport): { name: string; role: string; bits: number; reason: string }[] {
  const res = r.results.find((x) => x.kind === 'quantize')!;
  return res.kind === 'quantize' ? (res.report.backup ?? []) : [];
}

const FOUR = 'steps:\n  - quantize: { bits: 4, output-check: false }\n';

describe('--backup-bits on a Gather + MatMul language model', () => {
  test('default: the embedding and the lm head stay int8 (a reason each), the rest int4; perplexity better than --backup-bits none', async () => {
    const floatLogits = await logitsOf(buildLm());
    const labels = sampleLabels(floatLogits);
    const def = await quantized(FOUR);
    expect(bitsOf(def.report)).toEqual({ 'tok_emb': 8, 'fc1.weight': 4, 'fc2.weight': 4, 'lm_head.weight': 8, 'lm_head.bias': 'float' });
    expect(backupOf(def.report).map((b) => [b.name, b.role, b.bits])).toEqual([['tok_emb', 'embedding', 8], ['lm_head.weight', 'last layer', 8]]);
    expect(backupOf(def.report)[0].reason).toContain("embedding table read by Gather node 'embed'");
    expect(backupOf(def.report)[1].reason).toContain("MatMul node 'lm_head' produces graph output 'logits' through Add (its bias)");
    const none = await quantized('steps:\n  - quantize: { bits: 4, backup-bits: none, output-check: false }\n');
    expect(bitsOf(none.report)).toEqual({ 'tok_emb': 4, 'fc1.weight': 4, 'fc2.weight': 4, 'lm_head.weight': 4, 'lm_head.bias': 'float' });
    expect(backupOf(none.report)).toEqual([]);
    const pFloat = perplexity(floatLogits, labels);
    const pDef = perplexity(await logitsOf(def.model), labels);
    const pNone = perplexity(await logitsOf(none.model), labels);
    // eslint-disable-next-line no-console
    console.log(`perplexity: float ${pFloat.toFixed(4)}, int4 + int8 backup ${pDef.toFixed(4)}, int4 everywhere ${pNone.toFixed(4)}`);
    expect(pDef).toBeLessThan(pNone);
  });

  test('backup-bits 16 keeps them float (ONNX), each skipped line says why', async () => {
    const r = await quantized('steps:\n  - quantize: { bits: 4, backup-bits: 16, output-check: false }\n');
    expect(bitsOf(r.report)).toMatchObject({ 'tok_emb': 'float', 'fc1.weight': 4, 'fc2.weight': 4, 'lm_head.weight': 'float' });
    const res = r.report.results[0];
    if (res.kind !== 'quantize') throw new Error('no quantize result');
    expect(res.report.skipped.find((s) => s.name === 'tok_emb')!.reason).toMatch(/^backup precision: kept float instead of int4: embedding table/);
    expect(backupOf(r.report).map((b) => [b.name, b.bits])).toEqual([['tok_emb', 16], ['lm_head.weight', 16]]);
  });

  test('a step whose layers name the embedding at bits 4 overrides the backup; the other step keeps the head int8', async () => {
    const r = await quantized('steps:\n  - layers: [tok_emb]\n    quantize: { bits: 4, output-check: false }\n  - quantize: { bits: 4, output-check: false }\n');
    expect(bitsOf(r.report)).toMatchObject({ 'tok_emb': 4, 'fc1.weight': 4, 'lm_head.weight': 8 });
    expect(backupOf(r.report).map((b) => b.name)).toEqual(['lm_head.weight']);
    // The canonical recipe writes each step's backup (none for the step with layers).
    expect(r.report.recipe.json).toContain('"backup-bits":"none"');
    expect(r.report.recipe.json).toContain('"backup-bits":8');
  });

  test('--bits 8 is unchanged by the default backup; output deterministic', async () => {
    const a = await quantized('steps:\n  - quantize: { bits: 8, output-check: false }\n');
    expect(backupOf(a.report)).toEqual([]);
    const b = await quantized(FOUR);
    const c = await quantized(FOUR);
    expect(Buffer.from(encodeOnnx(b.model)).equals(Buffer.from(encodeOnnx(c.model)))).toBe(true);
  });
});

describe('--backup-bits on fixtures/cnn.onnx', () => {
  test('--bits 4: the logits Gemm stays int8, the convolutions and fc1 int4; the output runs in onnxruntime', async () => {
    const model = loadModel(path.join(ROOT, 'fixtures', 'cnn.onnx'));
    const r = await quantized(FOUR, model);
    expect(bitsOf(r.report)).toMatchObject({ 'conv1.weight': 4, 'conv2.weight': 4, 'conv3.weight': 4, 'fc1.weight': 4, 'logits.weight': 8 });
    expect(backupOf(r.report).map((b) => [b.name, b.role, b.reason])).toEqual([
      ['logits.weight', 'last layer', "int8 instead of int4: last layer: Gemm node 'logits/Gemm' produces graph output 'logits' (--backup-bits 8; --backup-bits none gives it the run's 4 bits)"],
    ]);
    const out = await runOnce(encodeOnnx(model), { input: new ort.Tensor('float32', new Float32Array(2 * 28 * 28).fill(0.5), [2, 1, 28, 28]) });
    expect(Object.values(out)[0].dims).toEqual([2, 10]);
  });
});
