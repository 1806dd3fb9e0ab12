/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Quantization-aware training as a recipe step (issue 13: "`--qat`, or the recipe's quantize step
 * with `finetune:`"): a weight-only quantize step or a static (calib) step may carry a `finetune:`
 * map with the finetune step's training keys (not the gradual pruning ones).
 *
 *  1. Reading: errors name the recipe line and the nested key; what QAT cannot train for (GPTQ,
 *     clip search, dynamic mode, the output check's back-off, a tfjs model, two QAT steps, a QAT
 *     step beside another quantize step) is refused in one line before anything runs.
 *  2. The canonical recipe writes the finetune: map back with every default, and reads back as the
 *     same step.
 *  3. The wiring: on fixtures/ds-cnn.onnx (the fixture RTN int4 hurts most, test/train/qat.test.ts),
 *     `quantize: {bits: 4, finetune: {...}}` through applyPlanToFile (`mc apply`'s path) makes the same
 *     model as `mc finetune --qat --bits 4` with the same settings (its flags parsed by the command's
 *     own parser, run by finetuneFile, the command's body): the graph and every weight byte for byte.
 *     The metadata legitimately differs in exactly one way: `mc finetune` stamps `mc.finetune` (the
 *     training record) and `mc apply` stamps `mc.recipe` / `mc.recipe.sha256` (the canonical recipe,
 *     whose finetune: map is the training settings); every other entry (mc.quantization ...) is equal.
 *     The output runs in onnxruntime, and its top-1 on the 1,000 eval images beats RTN int4's. The
 *     static case (`quantize: {calib: ..., finetune: {...}}` against `--qat --calib`) the same way.
 * Training data: a Fashion-MNIST training split (test/train/fashion-split.js; never the eval
 * images), skipped loudly where Debian's dataset-fashion-mnist is missing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseFinetuneFlags } from '../../src/cli/commands/finetune';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { loadModel } from '../../src/formats';
import { recordedRecipe } from '../../src/inspect/recipe';
import { finetuneFile } from '../../src/pipeline/finetune';
import { applyPlanToFile, parseRecipe, recipeDocument, type QuantizeStep, type StaticStep } from '../../src/plan';
import { ROOT, tempDir } from '../helpers/cli-run';
import { requireDep } from '../helpers/require-dep';
import { top1 } from '../train/cli-helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const split = require('../train/fashion-split') as { available(): boolean; writeTrainSplit(dir: string, n?: number): { x: string; y: string } };

const FIX = path.join(ROOT, 'fixtures');
const DS_CNN = path.join(FIX, 'ds-cnn.onnx');
jest.setTimeout(600_000);

const parse = (text: string) => () => parseRecipe(text, 'r.yaml', '/tmp');

describe('a quantize step\'s finetune: is read with the recipe line', () => {
  test.each([
    // unknown key inside finetune:, by the schema (finetune:'s own keys are the hint)
    ['steps:\n  - quantize:\n      bits: 4\n      finetune:\n        data: x.npy\n        epoch: 2\n', /^r\.yaml:6: steps\[0\]\.quantize\.finetune: unknown key 'epoch' \(did you mean 'epochs'\?\)$/],
    // a gradual pruning key: the finetune step's, not QAT's
    ['steps:\n  - quantize:\n      bits: 4\n      finetune:\n        data: x.npy\n        prune-to: 0.5\n', /^r\.yaml:5: steps\[0\]\.quantize\.finetune: 'prune-to' is a gradual pruning key: a quantize step's finetune: trains for its quantized forms \(QAT\)/],
    ['steps:\n  - quantize:\n      bits: 4\n      finetune:\n        data: x.npy\n        prune-end: 0.5\n', /^r\.yaml:5: steps\[0\]\.quantize\.finetune: 'prune-end' is a gradual pruning key/],
    // missing data
    ['steps:\n  - quantize:\n      bits: 4\n      finetune:\n        lr: find\n', /^r\.yaml:5: steps\[0\]\.quantize\.finetune: missing key 'data'$/],
    // the finetune step's own checks, in recipe spelling
    ['steps:\n  - quantize:\n      bits: 4\n      finetune:\n        data: x.npy\n        loss: ce\n', /^r\.yaml:5: steps\[0\]\.quantize\.finetune: loss ce needs labels$/],
    ['steps:\n  - quantize:\n      bits: 4\n      finetune:\n        data: x.npy\n        lr: fast\n', /^r\.yaml:6: steps\[0\]\.quantize\.finetune\.lr must be a number or find, got "fast"$/],
    // what QAT does not train for
    ['steps:\n  - quantize:\n      bits: 4\n      method: gptq\n      calib: c.npy\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: method gptq and finetune: exclude each other: QAT trains for the round-to-nearest levels/],
    ['steps:\n  - quantize:\n      bits: 4\n      clip-search: true\n      calib: c.npy\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: clip-search and finetune: \(quantization-aware training\) exclude each other/],
    ['steps:\n  - quantize:\n      bits: 8\n      mode: dynamic\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: mode dynamic and finetune: exclude each other: QAT trains for weight-only forms/],
    ['steps:\n  - quantize:\n      bits: 4\n      min-output-sqnr: 20\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: min-output-sqnr and finetune: \(quantization-aware training\) exclude each other: the output check would back weights off/],
    ['steps:\n  - quantize:\n      bits: 4\n      output-check: true\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: output-check and finetune: \(quantization-aware training\) exclude each other/],
    ['steps:\n  - quantize:\n      calib: c.npy\n      calib-cache: c.stats\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: calib-cache and finetune: \(quantization-aware training\) exclude each other: static QAT calibrates the float model itself/],
    ['steps:\n  - quantize:\n      calib: c.npy\n      mode: static\n      bias-correction: true\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: bias-correction and finetune: \(quantization-aware training\) exclude each other/],
    ['steps:\n  - quantize:\n      calib: c.npy\n      space-to-depth: on\n      finetune: { data: x.npy }\n', /^r\.yaml:3: steps\[0\]\.quantize: space-to-depth on and finetune:/],
  ])('%j', (text, message) => {
    expect(parse(text)).toThrow(message);
  });

  test('against the model, before anything runs: a tfjs model, two QAT steps, a QAT step beside another quantize step or a static step', async () => {
    const dir = tempDir('recipe-qat-refuse');
    const run = (text: string, input = DS_CNN) => applyPlanToFile({ input, output: path.join(dir, 'o.onnx'), plan: parseRecipe(text, 'r.yaml', dir) });
    await expect(run('steps:\n  - quantize:\n      bits: 8\n      finetune: { data: x.npy }\n', path.join(FIX, 'cnn-layers'))).rejects.toThrow(
      /^r\.yaml:3: steps\[0\]\.quantize: finetune: \(quantization-aware training\) needs an ONNX model/);
    await expect(run('steps:\n  - quantize:\n      bits: 4\n      finetune: { data: x.npy }\n    layers: [conv1.weight]\n  - quantize:\n      bits: 8\n      finetune: { data: x.npy }\n')).rejects.toThrow(
      /^r\.yaml:7: steps\[1\]\.quantize: a recipe has at most one step with finetune: \(quantization-aware training; steps\[0\]\.quantize has one\)/);
    await expect(run('steps:\n  - quantize:\n      bits: 4\n      finetune: { data: x.npy }\n    layers: [conv1.weight]\n  - quantize:\n      bits: 8\n')).rejects.toThrow(
      /^r\.yaml:3: steps\[0\]\.quantize: a quantize step with finetune: \(quantization-aware training\) is the recipe's only quantize step \(steps\[1\]\.quantize is another\)/);
    await expect(run('steps:\n  - quantize:\n      bits: 4\n      finetune: { data: x.npy }\n  - quantize:\n      calib: c.npy\n')).rejects.toThrow(
      /^r\.yaml:6: steps\[1\]\.quantize: a static \(calib\) step does not combine with weight-only\/dynamic steps \(steps\[0\]\.quantize\)/);
    // and the order rules stay: a finetune step after a QAT step is refused
    await expect(run('steps:\n  - quantize:\n      bits: 4\n      finetune: { data: x.npy }\n  - finetune:\n      data: x.npy\n')).rejects.toThrow(
      /^r\.yaml:6: steps\[1\]\.finetune: steps run in the order prune, finetune, quantize/);
    expect(fs.existsSync(path.join(dir, 'o.onnx'))).toBe(false);
  });

  test('written back with every default, the QAT steps read as the same steps', () => {
    const weight = parseRecipe('steps:\n  - quantize:\n      bits: 4\n      finetune: { data: d/x.npy, lr: find, samples: 2000 }\n', 'r.yaml', '/tmp/rc');
    const training = {
      data: 'd/x.npy', loss: 'kd', temperature: 2, alpha: 0.5, epochs: 1, 'batch-size': 32, samples: 2000, optimizer: 'adam', momentum: 0.9, 'weight-decay': 0,
      lr: 'find', schedule: 'cosine', warmup: 0.05, seed: 0, 'bn-recalibrate': false,
    };
    const doc = recipeDocument(weight);
    const wq = (doc.steps as Record<string, Record<string, unknown>>[])[0].quantize;
    expect(wq).toMatchObject({ bits: 4, granularity: 'block', 'block-size': 32, 'backup-bits': 8, 'output-check': false });
    expect(wq.finetune).toEqual(training);
    expect(parseRecipe(JSON.stringify(doc), 'again.json', '/tmp/rc').steps).toEqual(weight.steps);
    const s = weight.steps[0] as QuantizeStep;
    expect(s.finetune!.data).toBe(path.join('/tmp/rc', 'd/x.npy'));
    expect(s.outputCheck).toBe(false);

    const stat = parseRecipe('steps:\n  - quantize:\n      calib: c.npy\n      small-layers: int8\n      finetune: { data: d/x.npy, teacher: t.onnx, loss: kd+ce, labels: d/y.npy }\n', 'r.yaml', '/tmp/rc');
    const sdoc = recipeDocument(stat);
    const sq = (sdoc.steps as Record<string, Record<string, unknown>>[])[0].quantize;
    expect(sq).toMatchObject({ calib: 'c.npy', 'calib-method': 'minmax', 'small-layers': 'int8' });
    const { samples: _, ...noSamples } = training;
    expect(sq.finetune).toEqual({ ...noSamples, lr: 0.001, labels: 'd/y.npy', teacher: 't.onnx', loss: 'kd+ce' });
    expect(parseRecipe(JSON.stringify(sdoc), 'again.json', '/tmp/rc').steps).toEqual(stat.steps);
    expect((stat.steps[0] as StaticStep).finetune!.teacher).toBe(path.join('/tmp/rc', 't.onnx'));
  });
});

const maybe = requireDep('fashion-mnist', split.available(), '/usr/share/datasets/fashion-mnist is missing (apt-get install dataset-fashion-mnist)').describe;

/** Metadata entries by key, and the model with none (re-encoded: the graph and every weight). */
function parts(file: string): { meta: Map<string, string>; body: Buffer } {
  const m = decodeOnnx(fs.readFileSync(file));
  const meta = new Map(m.metadataProps.map((p) => [p.key, p.value]));
  m.metadataProps.length = 0;
  return { meta, body: Buffer.from(encodeOnnx(m)) };
}

/** The two outputs are the same model: same graph and weights, metadata equal but for who stamped what. */
function expectSameModel(recipeOut: string, cliOut: string): void {
  const a = parts(recipeOut);
  const b = parts(cliOut);
  expect(a.body.equals(b.body)).toBe(true);
  expect([...a.meta.keys()].filter((k) => !b.meta.has(k)).sort()).toEqual(['mc.recipe', 'mc.recipe.sha256']);
  expect([...b.meta.keys()].filter((k) => !a.meta.has(k))).toEqual(['mc.finetune']);
  for (const [k, v] of a.meta) if (b.meta.has(k)) expect({ k, v }).toEqual({ k, v: b.meta.get(k) });
}

maybe('QAT recipe steps make mc finetune --qat\'s model', () => {
  let dir: string;
  let data: { x: string; y: string };
  const SAMPLES = 2000;
  beforeAll(() => {
    dir = tempDir('recipe-qat');
    data = split.writeTrainSplit(path.join(dir, 'split'), SAMPLES);
  });

  test('quantize: {bits: 4, finetune: ...} = mc finetune --qat --bits 4, runs in onnxruntime, and beats RTN int4', async () => {
    const recipe = `model: ${DS_CNN}\nsteps:\n  - quantize:\n      bits: 4\n      finetune:\n        data: split/train-x.npy\n        samples: ${SAMPLES}\n        seed: 3\n`;
    const plan = parseRecipe(recipe, 'r.yaml', dir);
    const viaRecipe = path.join(dir, 'recipe-qat.onnx');
    const t0 = Date.now();
    const r = await applyPlanToFile({ input: DS_CNN, output: viaRecipe, plan });
    const seconds = (Date.now() - t0) / 1000;
    expect(r.verified).toBe(true);
    const q = r.results.find((x) => x.kind === 'quantize');
    expect(q && q.kind === 'quantize' && q.training && { steps: q.training.training.steps, samples: q.training.samples }).toEqual({ steps: Math.ceil(SAMPLES / 32), samples: SAMPLES });
    // The same settings as flags, through the command's parser and body.
    const viaCli = path.join(dir, 'cli-qat.onnx');
    const o = parseFinetuneFlags(DS_CNN, { data: data.x, qat: true, bits: '4', samples: String(SAMPLES), seed: '3', output: viaCli });
    await finetuneFile({ ...o, output: viaCli });
    expectSameModel(viaRecipe, viaCli);
    // What each stamped records the same training: the recipe's finetune: map and mc finetune's settings.
    const { meta } = parts(viaRecipe);
    expect(JSON.parse(meta.get('mc.recipe')!).steps[0].quantize.finetune).toMatchObject({ data: 'split/train-x.npy', samples: SAMPLES, seed: 3, lr: 0.001, loss: 'kd' });
    expect(JSON.parse(parts(viaCli).meta.get('mc.finetune')!).settings).toMatchObject({ samples: SAMPLES, seed: 3, lr: 0.001, loss: 'kd' });
    // mc inspect's line for the recorded step says it trained
    expect(recordedRecipe(loadModel(viaRecipe))!.steps).toEqual(['quantize int4 block 32 with QAT (on split/train-x.npy, 1 epoch(s), lr 0.001)']);

    const rtn = path.join(dir, 'rtn.onnx');
    await applyPlanToFile({ input: DS_CNN, output: rtn, plan: parseRecipe('steps:\n  - quantize: { bits: 4 }\n', 'rtn.yaml', dir) });
    const [float, rtnTop1, qatTop1] = [await top1(DS_CNN), await top1(rtn), await top1(viaRecipe)];
    console.log(`recipe QAT int4 (ds-cnn, ${SAMPLES} training images, ${q!.kind === 'quantize' ? q!.training!.training.steps : 0} steps, ${seconds.toFixed(0)} s through applyPlanToFile): top-1 on the 1,000 eval images: float ${float}%, RTN int4 ${rtnTop1}%, recipe QAT int4 ${qatTop1}%`);
    expect(qatTop1).toBeGreaterThan(rtnTop1);
  });

  test('quantize: {calib: ..., finetune: ...} = mc finetune --qat --calib, and runs in onnxruntime', async () => {
    const calib = path.join(FIX, 'calib-x.npy');
    const n = 640;
    const recipe = `steps:\n  - quantize:\n      calib: ${calib}\n      calib-method: entropy\n      small-layers: int8\n      finetune: { data: split/train-x.npy, samples: ${n} }\n`;
    const viaRecipe = path.join(dir, 'recipe-sqat.onnx');
    const r = await applyPlanToFile({ input: DS_CNN, output: viaRecipe, plan: parseRecipe(recipe, 'r.yaml', dir) });
    expect(r.verified).toBe(true);
    const st = r.results.find((x) => x.kind === 'static');
    expect(st && st.kind === 'static' && st.training && st.training.training.steps).toBe(n / 32);
    expect(st && st.kind === 'static' && st.report.quantizedNodes.length).toBeGreaterThan(0);
    const viaCli = path.join(dir, 'cli-sqat.onnx');
    const o = parseFinetuneFlags(DS_CNN, { data: data.x, qat: true, calib, calibMethod: 'entropy', smallLayers: 'int8', samples: String(n), output: viaCli });
    await finetuneFile({ ...o, output: viaCli });
    expectSameModel(viaRecipe, viaCli);
    // Static PTQ with the same calibration (the step without finetune:), for scale.
    const ptq = path.join(dir, 'ptq.onnx');
    await applyPlanToFile({ input: DS_CNN, output: ptq, plan: parseRecipe(`steps:\n  - quantize: { calib: ${calib}, calib-method: entropy, small-layers: int8 }\n`, 'p.yaml', dir) });
    const [ptqTop1, qatTop1] = [await top1(ptq), await top1(viaRecipe)];
    console.log(`recipe static int8 QAT (ds-cnn, entropy, ${n} training images): top-1 on the 1,000 eval images: static PTQ ${ptqTop1}%, recipe static QAT ${qatTop1}%`);
    expect(qatTop1).toBeGreaterThan(ptqTop1);
  });

  test('after a prune step, the default teacher is the recipe\'s model as given (the same bytes as teacher: the dense file), and the prune zeros stay', async () => {
    const steps = (teacher: string) => `steps:\n  - prune: { sparsity: 0.5 }\n  - quantize:\n      bits: 8\n      finetune: { data: split/train-x.npy, samples: 320${teacher} }\n`;
    const outs = [path.join(dir, 'pq-default.onnx'), path.join(dir, 'pq-dense.onnx'), path.join(dir, 'pq-pruned.onnx')];
    const pruned = path.join(dir, 'pruned.onnx');
    await applyPlanToFile({ input: DS_CNN, output: pruned, plan: parseRecipe('steps:\n  - prune: { sparsity: 0.5 }\n', 'p.yaml', dir) });
    const teachers = ['', `, teacher: ${DS_CNN}`, `, teacher: ${pruned}`];
    for (const [i, t] of teachers.entries()) await applyPlanToFile({ input: DS_CNN, output: outs[i], plan: parseRecipe(steps(t), 'r.yaml', dir) });
    const [byDefault, byDense, byPruned] = outs.map((o) => parts(o).body);
    expect(byDefault.equals(byDense)).toBe(true);
    // a control: distilling from the pruned model is another training, so the comparison above can fail
    expect(byDefault.equals(byPruned)).toBe(false);
    // int8 per channel via DequantizeLinear: each pruned zero quantizes to 0 and dequantizes to exactly 0
    const zerosOf = (file: string) => new Map(decodeOnnx(fs.readFileSync(file)).graph.initializers.filter((v) => v.const?.dtype === 'float32' || v.const?.dtype === 'int8').map((v) => {
      const x = v.const!.dtype === 'int8' ? Array.from(v.const!.typed() as Int8Array) : Array.from(v.const!.toFloat32());
      return [v.name, { dtype: v.const!.dtype, zeros: x.flatMap((y, j) => (y === 0 ? [j] : [])) }];
    }));
    const zp = zerosOf(pruned);
    const zq = zerosOf(outs[0]);
    let checked = 0;
    for (const [name, p] of zp) {
      if (p.zeros.length < 10) continue;
      // the int8 tensor written for this weight (named after it)
      const q = [...zq].find(([n, v]) => v.dtype === 'int8' && n.startsWith(name));
      if (!q) continue;
      const kept = new Set(q[1].zeros);
      expect({ name, lost: p.zeros.filter((j) => !kept.has(j)).length }).toEqual({ name, lost: 0 });
      checked++;
    }
    console.log(`prune 50% → QAT int8: ${checked} pruned weight(s) checked for kept zeros in their int8 tensors`);
    expect(checked).toBeGreaterThan(0);
  });
});
