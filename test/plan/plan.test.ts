/**
 * The plan library: the reader's keys and lines, keys ↔ typed options as a
 * fixed point (what makes --recipe-out reproduce the flags), and applyPlan's
 * one quantize pass with per-step settings on a model in memory.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../../src/formats';
import { applyPlan, canonicalRecipe, keysOfStep, parseRecipe, recipeYaml, stepFromKeys, type Plan } from '../../src/plan';
import { optionsFor, resolveQuantizeOptions } from '../../src/passes/quantize/options';
import { recordedRecipe } from '../../src/inspect/recipe';
import { ROOT } from '../helpers/cli-run';

const CNN = path.join(ROOT, 'fixtures', 'cnn.onnx');

describe('parseRecipe', () => {
  test('steps, selections, paths relative to the recipe folder, eval budgets', () => {
    const plan = parseRecipe([
      'model: m.onnx',
      'steps:',
      '  - prune: { sparsity: 0.5, pattern: unstructured, criterion: magnitude, scope: global }',
      '    exclude: ["*embed*", "/head/"]',
      '  - quantize: { bits: 4, granularity: block, block-size: 64 }',
      '    layers: ["*/mlp/*"]',
      '  - quantize: { bits: 8, asymmetric: true }',
      'eval:',
      '  data: eval.npy',
      '  labels: labels.npy',
      '  budgets: { max-accuracy-drop: 0.5, max-size-ratio: 0.3 }',
    ].join('\n'), 'rec/mc.yaml', 'rec');
    expect(plan.model).toBe(path.join('rec', 'm.onnx'));
    expect(plan.steps.map((s) => s.kind)).toEqual(['prune', 'quantize', 'quantize']);
    expect(plan.steps[0].select).toEqual({ layers: undefined, exclude: ['*embed*', '/head/'], allowEmpty: false });
    const q = plan.steps[1];
    expect(q.kind === 'quantize' && [q.options.bits, q.options.granularity, q.options.blockSize]).toEqual([4, 'block', 64]);
    const q2 = plan.steps[2];
    expect(q2.kind === 'quantize' && [q2.options.symmetric, q2.options.granularity]).toEqual([false, 'channel']);
    expect(plan.eval).toEqual({ data: path.join('rec', 'eval.npy'), labels: path.join('rec', 'labels.npy'), budgets: { maxAccuracyDrop: 0.5, maxSizeRatio: 0.3 } });
    expect(plan.sources.map((s) => [s.where, s.key])).toEqual([
      ['rec/mc.yaml:3', 'steps[0].prune'], ['rec/mc.yaml:5', 'steps[1].quantize'], ['rec/mc.yaml:7', 'steps[2].quantize'],
    ]);
    expect(plan.sources[0].excludeAt).toEqual(['rec/mc.yaml:4', 'rec/mc.yaml:4']);
    // Paths in the canonical recipe are as the recipe writes them.
    expect(JSON.parse(canonicalRecipe(plan).json).eval.data).toBe('eval.npy');
  });

  test('block-style keys report the line of the key itself', () => {
    const text = 'steps:\n  - quantize:\n      bits: 8\n\n      min-output-sqrn: 30\n';
    expect(() => parseRecipe(text, 'a.yaml', '.')).toThrow("a.yaml:5: steps[0].quantize: unknown key 'min-output-sqrn' (did you mean 'min-output-sqnr'?)");
  });

  test('a written recipe reads back to the same plan and the same hash', () => {
    const plan = parseRecipe('steps:\n  - prune: { sparsity: 0.25, pattern: channel }\n    layers: [conv2*]\n  - quantize: { bits: 4, int4-format: qdq }\n  - quantize: { bits: 8, mode: dynamic }\n    layers: [fc1.weight]\n    allow-empty: true\n', 'x/r.yaml', 'x');
    const again = parseRecipe(recipeYaml(plan, 'x', 'test'), 'x/r2.yaml', 'x');
    expect(again.steps).toEqual(plan.steps);
    expect(canonicalRecipe(again)).toEqual(canonicalRecipe(plan));
  });
});

test('the canonical recipe leaves out the calibration cache file, and keeps everything that changes the model', () => {
  const a = parseRecipe('steps:\n  - quantize: { calib: c.npy }\n', 'r.yaml', '.');
  const b = parseRecipe('steps:\n  - quantize: { calib: c.npy, calib-cache: stats.json }\n', 'r.yaml', '.');
  const c = parseRecipe('steps:\n  - quantize: { calib: c.npy, calib-method: mse }\n', 'r.yaml', '.');
  expect(canonicalRecipe(b)).toEqual(canonicalRecipe(a));
  expect(canonicalRecipe(c).sha256).not.toBe(canonicalRecipe(a).sha256);
  expect(recipeYaml(b, '.', 'test')).toContain('calib-cache: stats.json');
});

describe('keys ↔ typed options', () => {
  test('keysOfStep then stepFromKeys is the identity (every default filled)', () => {
    const plan = parseRecipe([
      'steps:',
      '  - prune: { sparsity: 0.3, criterion: saliency, pattern: channel, data: d.npy, channel-multiple: 8 }',
      '  - quantize: { bits: 8, mode: dynamic, granularity: tensor, target: avx512-vnni, op-types: [MatMul], min-output-sqnr: 25 }',
      '  - quantize: { bits: 4, asymmetric: true, block-size: 128, output-check: false }',
    ].join('\n'), 'r.yaml', 'base');
    for (const s of plan.steps) {
      const keys = keysOfStep(s, 'base');
      const kind = s.kind === 'prune' ? 'prune' : 'quantize';
      expect(stepFromKeys(kind, keys[kind] as Record<string, unknown>, s.select, 'base')).toEqual(s);
    }
  });
});

describe('optionsFor', () => {
  test('an override replaces exactly the fields it sets', () => {
    const base = resolveQuantizeOptions({ bits: 8 });
    const o = { ...base, overrides: new Map([['w', { bits: 4 as const, granularity: 'block' as const, blockSize: 64, symmetric: false, reason: 't' }]]) };
    expect(optionsFor(o, 'w')).toEqual({ ...o, bits: 4, granularity: 'block', blockSize: 64, symmetric: false });
    expect(optionsFor(o, 'other')).toBe(o);
  });
});

describe('applyPlan in memory', () => {
  const recipe = (text: string): Plan => parseRecipe(text, 'mem.yaml', '.');

  test('steps with different block sizes and symmetry become one pass with per-weight settings', async () => {
    const model = loadModel(CNN);
    const plan = recipe([
      'steps:',
      '  - quantize: { bits: 4, block-size: 16, asymmetric: true, int4-format: qdq, output-check: false }',
      '    layers: [conv2.weight]',
      '  - quantize: { bits: 4, block-size: 64, output-check: false }',
      '    layers: [fc1.weight]',
      '  - quantize: { bits: 8, granularity: tensor, output-check: false }',
      '    layers: [conv3.weight]',
    ].join('\n'));
    const r = await applyPlan(model, plan, { label: 'cnn' });
    const q = r.results.find((x) => x.kind === 'quantize');
    if (q?.kind !== 'quantize') throw new Error('no quantize result');
    const rows = Object.fromEntries(q.report.tensors.map((t) => [t.name, [t.bits, t.granularity, t.blockSize ?? null, t.form]]));
    expect(rows).toEqual({
      'conv2.weight': [4, 'block', 16, 'DequantizeLinear uint4 axis=1 block=16'],
      'conv3.weight': [8, 'tensor', null, 'DequantizeLinear int8 per-tensor'],
      'fc1.weight': [4, 'block', 64, 'MatMulNBits int4 block=64'],
    });
    // The weights no step took stay float initializers, and are reported as the user's choice.
    expect(model.graph.initializers.map((v) => v.name)).toEqual(expect.arrayContaining(['conv1.weight', 'logits.weight']));
    expect(q.report.skipped.filter((s) => s.name === 'conv1.weight' || s.name === 'logits.weight').map((s) => s.kind)).toEqual(['excluded', 'excluded']);
    expect(r.forms.find((f) => f.name === 'conv1.weight')).toEqual({ name: 'conv1.weight', steps: '', form: 'float' });
    expect(model.metadataProps.find((m) => m.key === 'mc.recipe.sha256')?.value).toBe(r.recipe.sha256);
  });

  test('a later step without layers takes what is left, and exclude passes a weight on to it', async () => {
    const model = loadModel(CNN);
    const plan = recipe([
      'steps:',
      '  - quantize: { bits: 4, output-check: false }',
      '    exclude: [conv1.weight, logits.weight]',
      '  - quantize: { bits: 8, output-check: false }',
    ].join('\n'));
    const r = await applyPlan(model, plan, { label: 'cnn' });
    expect(Object.fromEntries(r.forms.map((f) => [f.name, f.steps]))).toEqual({
      'conv1.weight': 'steps[1]', 'conv2.weight': 'steps[0]', 'conv3.weight': 'steps[0]', 'fc1.weight': 'steps[0]', 'logits.weight': 'steps[1]',
    });
  });

  test('prune then quantize: the pruned zeros survive into the quantized weights', async () => {
    const model = loadModel(CNN);
    const plan = recipe('steps:\n  - prune: { sparsity: 0.5 }\n    layers: [fc1.weight]\n  - quantize: { bits: 8 }\n    layers: [fc1.weight]\n');
    const r = await applyPlan(model, plan, { label: 'cnn' });
    expect(r.forms.find((f) => f.name === 'fc1.weight')!.form).toMatch(/^pruned 50\.0% \+ int8 channel/);
    const q = model.graph.initializers.find((v) => v.name.startsWith('fc1.weight') && v.const!.dtype === 'int8')!;
    const ints = q.const!.toFloat32();
    const zeros = ints.filter((x) => x === 0).length;
    expect(zeros / ints.length).toBeGreaterThanOrEqual(0.5);
  });
});

test('the schema docs/ publishes is the one the reader loads, and it is valid JSON', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'recipe.schema.json'), 'utf8'));
  expect(schema.properties.steps.items.$ref).toBe('#/definitions/step');
  expect(Object.keys(schema.definitions.quantize.properties)).toEqual(expect.arrayContaining(['bits', 'block-size', 'calib', 'calib-method', 'min-output-sqnr', 'output-check']));
});

test('inspect: a recorded recipe whose JSON was edited no longer matches its hash', async () => {
  const model = loadModel(CNN);
  await applyPlan(model, parseRecipe('steps:\n  - quantize: { bits: 8, output-check: false }\n', 'r.yaml', '.'), { label: 'cnn' });
  expect(recordedRecipe(model)).toMatchObject({ matches: true, steps: ['quantize int8 channel'] });
  const p = model.metadataProps.find((m) => m.key === 'mc.recipe')!;
  p.value = p.value.replace('"bits":8', '"bits":4');
  expect(recordedRecipe(model)).toMatchObject({ matches: false, steps: ['quantize int4 channel'] });
  expect(recordedRecipe(loadModel(CNN))).toBeNull();
});
