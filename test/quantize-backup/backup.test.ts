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
import type { Model } from '../../src/ir';
import { applyPlan, parseRecipe, type PlanReport } from '../../src/plan';
import { runOnce } from '../helpers/onnx-ort';
import { ROOT } from '../helpers/cli-run';
import { buildLm, fixturePerplexity, logitsOf, perplexity, sampleLabels } from './lm';

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

describe('--backup-bits on a tfjs graph model (fixtures/cnn-graph)', () => {
  test('16: the logits layer (a _FusedMatMul found through Identity) is stored float16; 8: uint8 with 256 levels', async () => {
    const sixteen = await quantized('steps:\n  - quantize: { bits: 4, backup-bits: 16, output-check: false }\n', loadModel(path.join(ROOT, 'fixtures', 'cnn-graph')));
    const res = sixteen.report.results[0];
    if (res.kind !== 'quantize') throw new Error('no quantize result');
    const head = res.report.tensors.find((t) => t.name.includes('logits'))!;
    expect([head.form, head.bits]).toEqual(['tfjs float16', 16]);
    expect(res.report.tensors.filter((t) => t !== head).every((t) => t.form === 'tfjs uint8 (16 levels)')).toBe(true);
    expect(backupOf(sixteen.report)[0].reason).toMatch(/float16 instead of int4: last layer: .* produces graph output 'logits' through Identity/);
    const eight = await quantized(FOUR, loadModel(path.join(ROOT, 'fixtures', 'cnn-graph')));
    const r8 = eight.report.results[0];
    if (r8.kind !== 'quantize') throw new Error('no quantize result');
    expect(r8.report.tensors.find((t) => t.name.includes('logits'))!.form).toBe('tfjs uint8');
  });
});

describe('--backup-bits on the char LM fixture (fixtures/char-lm.onnx; perplexity on lm-eval-x/y.npy computed here)', () => {
  test('--bits 4 keeps tok_emb and lm_head int8 and its perplexity is below --backup-bits none', async () => {
    const lm = (): Model => loadModel(path.join(ROOT, 'fixtures', 'char-lm.onnx'));
    const def = await quantized(FOUR, lm());
    expect(backupOf(def.report).map((b) => [b.name, b.role, b.bits])).toEqual([['tok_emb', 'embedding', 8], ['lm_head.weight', 'last layer', 8]]);
    const bits = bitsOf(def.report);
    expect(Object.entries(bits).filter(([n, b]) => b === 4).length).toBeGreaterThan(0);
    const none = await quantized('steps:\n  - quantize: { bits: 4, backup-bits: none, output-check: false }\n', lm());
    expect(backupOf(none.report)).toEqual([]);
    expect([bitsOf(none.report).tok_emb, bitsOf(none.report)['lm_head.weight']]).toEqual([4, 4]);
    const [pf, pd, pn] = [await fixturePerplexity(lm(), ROOT), await fixturePerplexity(def.model, ROOT), await fixturePerplexity(none.model, ROOT)];
    // eslint-disable-next-line no-console
    console.log(`char LM perplexity: float ${pf.toFixed(3)}, --bits 4 ${pd.toFixed(3)}, --bits 4 --backup-bits none ${pn.toFixed(3)}`);
    expect(pd).toBeLessThan(pn);
  });
});
