/**
 * Gradual pruning: the polynomial schedule against tfmot's PolynomialDecay formula
 * (transcribed), the prune steps, global magnitude pruning to an exact count, and fit
 * ending at the final sparsity with the mask fixed after endStep.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { isPruningStep, polynomialSparsity, pruneGlobalMagnitude, pruneMagnitude } from '../../src/train';
import { parsePruneFlags } from '../../src/cli/commands/prune';
import { parseRecipe, recipeDocument } from '../../src/plan';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('s_t = s_f + (s_i − s_f)(1 − p)³, p clipped to [0, 1]', () => {
  const g = { initial: 0.1, final: 0.9, beginStep: 10, endStep: 110, frequency: 25 };
  const tfmot = (t: number) => {
    const p = Math.min(1, Math.max(0, (t - 10) / 100));
    return 0.9 + (0.1 - 0.9) * Math.pow(1 - p, 3);
  };
  for (const t of [0, 10, 35, 60, 85, 110, 200]) expect(polynomialSparsity(t, g)).toBeCloseTo(tfmot(t), 12);
  expect(polynomialSparsity(10, g)).toBeCloseTo(0.1, 12);
  expect(polynomialSparsity(110, g)).toBeCloseTo(0.9, 12);
  const steps = [...Array(130).keys()].filter((t) => isPruningStep(t, g));
  expect(steps).toEqual([10, 35, 60, 85, 110]);
  expect([...Array(130).keys()].filter((t) => isPruningStep(t, { ...g, endStep: 100 }))).toEqual([10, 35, 60, 85, 100]);
});

test('global magnitude pruning zeroes exactly ⌊s·n⌋ of the smallest |w| across tensors', () => {
  const a = tf.variable(tf.tensor1d([0.5, -0.1, 0.3, 0.05]), true, 'g-a');
  const b = tf.variable(tf.tensor1d([-0.2, 0.4, 0.01, 0.6]), true, 'g-b');
  expect(pruneGlobalMagnitude(tf, [a, b], 0.5)).toBe(4);
  const r = (v: tf.Variable) => Array.from(v.dataSync(), (x) => +x.toFixed(6));
  expect(r(a)).toEqual([0.5, 0, 0.3, 0]); // 0.05 and -0.1 go
  expect(r(b)).toEqual([0, 0.4, 0, 0.6]); // -0.2 and 0.01 go
});

test('pruneMagnitude picks what the one-shot pass picks: global |w| ranking with the per-tensor floor, or per tensor', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const sizes = [40, 200, 24];
  const base = sizes.map((n, li) => Float32Array.from({ length: n }, () => rand() * (li === 1 ? 0.2 : 1)));
  base[0][3] = 0; // an existing zero stays and counts
  const transcribe = (scope: 'global' | 'layer', s: number, minDensity: number): Set<string> => {
    const out = new Set<string>();
    if (scope === 'layer') {
      base.forEach((w, li) => [...w.keys()].sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]) || a - b).slice(0, Math.round(s * w.length)).forEach((k) => out.add(`${li}:${k}`)));
      return out;
    }
    const all = base.flatMap((w, li) => [...w].map((x, k) => ({ a: Math.abs(x), li, k })));
    const order = all.map((e, i) => ({ ...e, i })).sort((p, q) => p.a - q.a || p.i - q.i);
    const budget = sizes.map((n) => n - Math.ceil(minDensity * n));
    const taken = sizes.map(() => 0);
    let want = Math.round(s * all.length);
    for (const e of order) {
      if (want === 0) break;
      if (taken[e.li] >= budget[e.li]) continue;
      taken[e.li]++;
      out.add(`${e.li}:${e.k}`);
      want--;
    }
    return out;
  };
  for (const [scope, s, floor] of [['global', 0.8, 0.3], ['global', 0.5, 0], ['layer', 0.7, 0]] as const) {
    const vars = base.map((w, li) => tf.variable(tf.tensor1d(w), true, `pm-${scope}-${s}-${li}`));
    const zeros = pruneMagnitude(tf, vars, s, scope, floor);
    const got = new Set<string>();
    vars.forEach((v, li) => v.dataSync().forEach((x, k) => { if (x === 0) got.add(`${li}:${k}`); }));
    expect([...got].sort()).toEqual([...transcribe(scope, s, floor)].sort());
    expect(zeros).toBe(got.size);
    vars.forEach((v) => v.dispose());
  }
});

/**
 * The loop on the fixture CNN (wasm, 2 epochs of 4 steps over calib-x.npy, distilling from
 * the dense model): after every step the zero set of the pruned weights contains the one
 * before it (monotone masks), each prune reaches the polynomial target exactly, nothing moves
 * after endStep, and the end state is at round(s_f·n) with every tensor above its floor.
 */
test('fit with gradual pruning: monotone masks, exact targets, fixed after endStep', async () => {
  const { loadModel } = await import('../../src/formats');
  const { openDataset } = await import('../../src/data');
  const { useGradientBackend } = await import('../../src/runtime/executor');
  const { fit, openTrainable, TrainingSet } = await import('../../src/train');
  await useGradientBackend(tf, 'wasm');
  const model = loadModel(path.join(__dirname, '..', '..', 'fixtures', 'cnn.onnx'));
  const trainable = await openTrainable(tf, model);
  const train = TrainingSet.load(openDataset(path.join(__dirname, '..', '..', 'fixtures', 'calib-x.npy'), { inputs: [{ name: 'input', dtype: 'float32', shape: [-1, 1, 28, 28] }] }));
  const layer = trainable.params.flatMap((v, i) => (v.uses.some((u) => (u.node.opType === 'Conv' || u.node.opType === 'Gemm') && u.index === 1) ? [i] : []));
  expect(layer.map((i) => trainable.params[i].name)).toEqual(['conv1.weight', 'conv2.weight', 'conv3.weight', 'fc1.weight', 'logits.weight']);
  const g = { initial: 0, final: 0.9, beginStep: 0, endStep: 5, frequency: 2, scope: 'global' as const, minDensity: 0.05 };
  const zeroSet = () => layer.map((i) => { const d = trainable.vars[i].dataSync(); const z = new Set<number>(); d.forEach((x, k) => { if (x === 0) z.add(k); }); return z; });
  const n = layer.reduce((a, i) => a + trainable.vars[i].size, 0);
  const history: Set<number>[][] = [];
  let step = 0;
  fit(tf, trainable, { predict: (f) => trainable.reference(f)!, dispose: () => {} }, train, {
    epochs: 2, batchSize: 64, optimizer: { kind: 'adam', momentum: 0.9, weightDecay: 0 }, lr: 1e-2, schedule: 'cosine', warmup: 0.05,
    loss: { kind: 'kd', temperature: 2 }, seed: 0, gradual: { ...g, vars: layer },
    onStep: () => {
      const z = zeroSet();
      const count = z.reduce((a, s) => a + s.size, 0);
      // step `step` pruned (if it was a pruning step) before its update: the target of the last prune at or before it
      const last = [...Array(step + 1).keys()].filter((t) => isPruningStep(t, g)).pop()!;
      expect({ step, count }).toEqual({ step, count: Math.round(polynomialSparsity(last, g) * n) });
      if (history.length) z.forEach((s, li) => history[history.length - 1][li].forEach((k) => expect(s.has(k)).toBe(true)));
      if (step > g.endStep) z.forEach((s, li) => expect(s.size).toBe(history[history.length - 1][li].size));
      history.push(z);
      step++;
    },
  });
  expect(step).toBe(8);
  // The one-shot selection on the weights as they stood before the last prune, transcribed.
  const final = history[history.length - 1];
  final.forEach((s, li) => expect(s.size).toBeLessThanOrEqual(trainable.vars[layer[li]].size - Math.ceil(0.05 * trainable.vars[layer[li]].size)));
  expect(final.reduce((a, s) => a + s.size, 0)).toBe(Math.round(0.9 * n));
  trainable.dispose();
});

describe('mc prune --schedule polynomial: flags → the plan, and the recipe it writes', () => {
  const parse = (extra: Record<string, unknown>) => parsePruneFlags('m.onnx', { sparsity: '0.9', schedule: 'polynomial', data: 'x.npy', ...extra });

  test('flags → gradual settings (mc finetune defaults elsewhere), and back through a recipe', () => {
    const o = parse({ finetuneEpochs: '2', frequency: '50', scope: 'global', lr: 'find' });
    const step = o.plan.steps[0];
    expect(step.kind === 'prune' && step.gradual).toMatchObject({
      settings: { epochs: 2, lr: 'find', loss: 'kd', batchSize: 32, samples: undefined, optimizer: { kind: 'adam' }, schedule: 'cosine', prune: { final: 0.9, initial: 0, frequency: 50, end: 0.75, scope: 'global', minDensity: 0.05 } },
      teacher: undefined,
    });
    const doc = recipeDocument(o.plan);
    expect((doc.steps as Record<string, Record<string, unknown>>[])[0].prune).toMatchObject({ schedule: 'polynomial', 'finetune-epochs': 2, frequency: 50, 'initial-sparsity': 0, 'prune-end': 0.75, lr: 'find', loss: 'kd', seed: 0 });
    expect(parseRecipe(JSON.stringify(doc), 'r.json', '.').steps).toEqual(o.plan.steps);
    // A one-shot prune writes no schedule keys (its canonical recipe, and hash, are as before).
    expect(Object.keys((recipeDocument(parsePruneFlags('m.onnx', { sparsity: '0.5' }).plan).steps as Record<string, Record<string, unknown>>[])[0].prune)).not.toContain('schedule');
  });

  test('--bn-mode train reaches the gradual settings and survives the recipe round trip; frozen writes no key', () => {
    const o = parse({ bnMode: 'train' });
    const step = o.plan.steps[0];
    expect(step.kind === 'prune' && step.gradual?.settings.bnMode).toBe('train');
    const doc = recipeDocument(o.plan);
    expect((doc.steps as Record<string, Record<string, unknown>>[])[0].prune['bn-mode']).toBe('train');
    expect(parseRecipe(JSON.stringify(doc), 'r.json', '.').steps).toEqual(o.plan.steps);
    expect((recipeDocument(parse({}).plan).steps as Record<string, Record<string, unknown>>[])[0].prune['bn-mode']).toBeUndefined();
  });

  test.each([
    [{ schedule: undefined, frequency: '10' }, '--frequency is a gradual pruning setting: it needs --schedule polynomial'],
    [{ data: undefined }, '--schedule polynomial fine-tunes between prunes: it needs --data (training inputs; not the eval set)'],
    [{ pattern: 'n:m' }, '--schedule polynomial is gradual magnitude pruning: --method magnitude --pattern unstructured, not magnitude n:m'],
    [{ exclude: ['fc1*'] }, /--exclude \(and a step's layers\) are not supported with it yet$/],
    [{ loss: 'ce' }, '--loss ce needs --labels'],
    [{ initialSparsity: '0.95' }, '--prune-to (0.9) must be above --initial-sparsity (0.95)'],
    [{ schedule: 'linear' }, "--schedule must be one of one-shot, polynomial, got 'linear'"],
    [{ bnMode: 'batch' }, "--bn-mode must be one of frozen, train, got 'batch'"],
    [{ schedule: undefined, bnMode: 'train' }, '--bn-mode is a gradual pruning setting: it needs --schedule polynomial'],
  ])('%j is refused', (extra, message) => {
    expect(() => parse(extra)).toThrow(message);
  });
});

/**
 * --lr find with gradual pruning: the student starts as its teacher, so a range test on it
 * sees a zero loss and picks nothing (the error a plain fine-tune of an unpruned model gives);
 * with gradual pruning the test runs on the weights pruned to the final sparsity, what the
 * rate has to recover from, and the training then starts from the weights as they were.
 */
test('lr find with gradual pruning runs the range test at the final sparsity', async () => {
  const { openDataset } = await import('../../src/data');
  const { fit, TrainingSet } = await import('../../src/train');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { encodeNpy } = require('../../scripts/fixtures/npy') as { encodeNpy(a: Float32Array, shape: number[]): Buffer };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-gradual-find-'));
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  fs.writeFileSync(path.join(dir, 'x.npy'), encodeNpy(Float32Array.from({ length: 320 * 16 }, rand), [320, 16]));
  const train = TrainingSet.load(openDataset(path.join(dir, 'x.npy'), { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 16] }] }));
  const w0 = Float32Array.from({ length: 16 * 4 }, rand);
  const run = (gradual: boolean) => {
    const W = tf.variable(tf.tensor2d(w0, [16, 4]), true, `find-w-${gradual}`);
    const teacherW = tf.tensor2d(w0, [16, 4]);
    const student = {
      params: [], vars: [W],
      predict: (f: Readonly<Record<string, tf.Tensor>>) => tf.matMul(f.x as tf.Tensor2D, W),
      reference: (f: Readonly<Record<string, tf.Tensor>>) => tf.matMul(f.x as tf.Tensor2D, teacherW),
      lossAndGrads: (f: Readonly<Record<string, tf.Tensor>>, loss: (out: tf.Tensor) => tf.Scalar) => {
        const r = tf.variableGrads(() => loss(tf.matMul(f.x as tf.Tensor2D, W)), [W]);
        const l = r.value.dataSync()[0];
        r.value.dispose();
        return { loss: l, grads: [r.grads[W.name]] };
      },
      writeBack: () => {}, dispose: () => {}, saveState: () => () => {}, batchStatsNodes: 0,
    };
    const seen: number[] = [];
    try {
      return fit(tf, student as never, { predict: (f) => student.reference(f), dispose: () => {} }, train, {
        epochs: 1, batchSize: 32, optimizer: { kind: 'adam', momentum: 0.9, weightDecay: 0 }, lr: 'find', schedule: 'cosine', warmup: 0,
        loss: { kind: 'mse', temperature: 1 }, seed: 0, onStep: () => seen.push(Array.from(W.dataSync()).filter((x) => x === 0).length),
        gradual: gradual ? { initial: 0, final: 0.75, beginStep: 0, endStep: 5, frequency: 5, scope: 'layer', minDensity: 0, vars: [0] } : undefined,
      });
    } finally {
      if (gradual) expect(seen).toEqual([0, 0, 0, 0, 0, 48, 48, 48, 48, 48]); // s_0 = 0: the range test's pruning was undone
      W.dispose();
      teacherW.dispose();
    }
  };
  expect(() => run(false)).toThrow('--lr find: the loss never decreased over the range test; give --lr');
  const r = run(true);
  expect(r.lrFind!.points.length).toBeGreaterThan(20);
  expect(r.lr).toBeGreaterThan(0);
  expect(r.lr).toBe(r.lrFind!.lr);
});
