/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * mc finetune on a real model (issue 13: a feature that works on the fixtures but not on a real
 * model is not done): PP-OCR's text-direction classifier from the npm corpus
 * (ch_ppocr_mobile_v2.0_cls, a MobileNetV3-small: 53 convolutions with stride-2 depthwise ones,
 * BatchNormalization, HardSigmoid/Clip, squeeze-excite, a Shape → Cast → Slice → Concat → Reshape
 * flatten, a Softmax output, and every weight a Constant node), on rendered text lines
 * (scripts/corpus-cls-lines.py through ./cls-lines).
 *
 * Distillation needs no labels: the model is pruned (global magnitude) and fine-tuned with
 * --loss kd from the dense model on TRAIN unlabelled lines (seed 11); it is judged by onnxruntime
 * on EVAL held-out lines with their orientation labels (seed 2: another draw of fonts, sizes,
 * offsets, noise and word triples from the same 23-word vocabulary, so a word triple can recur).
 * Checked, against the dense model's top-1 measured here:
 *  - pruning costs accuracy beyond sampling noise (paired one-sided McNemar, test/helpers/paired);
 *  - the fine-tuned model wins back at least half of what pruning lost ("most", fixed before
 *    measuring) and beats the pruned one beyond noise (whether the dense model is still better
 *    than it beyond noise is printed, not asserted: 400 lines cannot show parity);
 *  - every zero of the pruned file is still an exact zero, at the same place, in the output;
 *  - the output loads and runs in onnxruntime (every accuracy above comes from it), and its
 *    metadata says the loss read the logits at the Softmax's input.
 *  - QAT (issue 13's criterion): `mc finetune --qat` (int4, mc quantize's defaults, distilled
 *    from the model itself) loses at most half of what round-to-nearest `mc quantize --bits 4`
 *    loses, beats it beyond noise, and is written in exactly the same forms (op types).
 * Training settings are mc finetune's defaults (1 epoch, Adam, 1e-3 cosine, kd at T = 2); the
 * sparsity is the issue's 50%, and TRAIN lines keep one epoch to 32 steps.
 * Runtime: about 4 minutes on 2 shared cores (each of the two trainings ~80 s, the rest rendering
 * and onnxruntime).
 * Without the corpus the suite fails, naming the command to run; MC_SKIP_CORPUS=1 skips it loudly
 * (a failure under CI=true: test/helpers/require-dep.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel } from '../../src/formats';
import { ALPHA, pBetter } from '../helpers/paired';
import { corpusGate } from '../helpers/require-dep';
import { readNpy } from '../reconstruct-e2e/helpers';
import { CLS_NAME, clsModel, labels, predict, renderLines } from './cls-lines';
import { mc, ok, zeros } from './finetune-helpers';

jest.setTimeout(1_800_000);

/** Global magnitude sparsity: the one-shot recipe; on this model it costs tens of points. */
const SPARSITY = 0.5;
const TRAIN = 1024;
const EVAL = 400;


const hitsOf = (pred: number[], y: number[]): Uint8Array => Uint8Array.from(pred, (p, i) => (p === y[i] ? 1 : 0));
const acc = (h: Uint8Array): number => (100 * h.reduce((a, b) => a + b, 0)) / h.length;


corpusGate().describe('mc finetune on a real model: PP-OCR direction classifier (corpus)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-corpus-finetune-'));
  let model = '';
  beforeAll(() => {
    model = clsModel();
    renderLines(path.join(dir, 'train'), TRAIN, 11);
    renderLines(path.join(dir, 'eval'), EVAL, 2);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test(`${SPARSITY * 100}% global magnitude pruning, then distillation without labels: most of the loss recovered (onnxruntime, held-out lines), zeros kept`, async () => {
    const pruned = path.join(dir, 'pruned.onnx');
    const tuned = path.join(dir, 'finetuned.onnx');
    ok(mc(['prune', model, '--sparsity', String(SPARSITY), '--scope', 'global', '-o', pruned]), 'mc prune');
    const t0 = Date.now();
    const run = ok(mc(['finetune', pruned, '--teacher', model, '--data', path.join(dir, 'train', 'x.npy'), '-o', tuned, '--json']), 'mc finetune');
    const seconds = (Date.now() - t0) / 1000;
    const report = JSON.parse(run.stdout) as { training: { steps: number; maskedZeros: number; epochs: { loss: number }[] }; notes: string[] };

    const x = readNpy(path.join(dir, 'eval', 'x.npy'));
    const y = labels(path.join(dir, 'eval', 'y.npy'));
    const dense = hitsOf(await predict(model, x), y);
    const cut = hitsOf(await predict(pruned, x), y);
    const ft = hitsOf(await predict(tuned, x), y);
    const [aDense, aPruned, aTuned] = [acc(dense), acc(cut), acc(ft)];
    console.log([
      `${CLS_NAME}: ${SPARSITY * 100}% global magnitude, then mc finetune (defaults: --loss kd) on ${TRAIN} unlabelled lines (${report.training.steps} steps, ${seconds.toFixed(0)} s)`,
      `  held-out lines (${EVAL}): dense ${aDense.toFixed(2)}%, pruned ${aPruned.toFixed(2)}%, fine-tuned ${aTuned.toFixed(2)}%`,
      `  p(dense > pruned) ${pBetter(dense, cut).toExponential(2)}, p(fine-tuned > pruned) ${pBetter(ft, cut).toExponential(2)}, p(dense > fine-tuned) ${pBetter(dense, ft).toFixed(3)}`,
      `  epoch losses ${report.training.epochs.map((e) => e.loss.toFixed(3)).join(', ')}; ${report.notes.join('; ')}`,
    ].join('\n'));

    expect(pBetter(dense, cut)).toBeLessThan(ALPHA);
    expect(aDense - aTuned).toBeLessThanOrEqual((aDense - aPruned) / 2);
    expect(pBetter(ft, cut)).toBeLessThan(ALPHA);

    // Every pruned zero is still an exact zero (the output keeps the pruned file's initializer names).
    const before = zeros(pruned);
    const after = zeros(tuned);
    let count = 0;
    for (const [name, z] of before) {
      const a = new Set(after.get(name) ?? []);
      expect({ name, kept: z.every((i) => a.has(i)) }).toEqual({ name, kept: true });
      count += z.length;
    }
    expect(count).toBeGreaterThan(0);
    expect(report.training.maskedZeros).toBeGreaterThan(0);

    const meta = loadModel(tuned).metadataProps.find((m) => m.key === 'mc.finetune');
    expect(JSON.parse(meta?.value ?? '{}')).toMatchObject({ lossReads: { student: 'logits', teacher: 'logits' } });
  });

  test('QAT int4 (mc finetune --qat) loses at most half of what round-to-nearest int4 loses, in the same forms', async () => {
    const rtn = path.join(dir, 'rtn-int4.onnx');
    const qat = path.join(dir, 'qat-int4.onnx');
    ok(mc(['quantize', model, '--bits', '4', '--allow-partial', '-o', rtn]), 'mc quantize');
    const t0 = Date.now();
    const run = ok(mc(['finetune', model, '--qat', '--bits', '4', '--data', path.join(dir, 'train', 'x.npy'), '-o', qat, '--json']), 'mc finetune --qat');
    const seconds = (Date.now() - t0) / 1000;
    const report = JSON.parse(run.stdout) as { training: { steps: number } };

    const x = readNpy(path.join(dir, 'eval', 'x.npy'));
    const y = labels(path.join(dir, 'eval', 'y.npy'));
    const dense = hitsOf(await predict(model, x), y);
    const r = hitsOf(await predict(rtn, x), y);
    const q = hitsOf(await predict(qat, x), y);
    console.log([
      `${CLS_NAME}: int4 (mc quantize's defaults), QAT on ${TRAIN} unlabelled lines (${report.training.steps} steps, ${seconds.toFixed(0)} s)`,
      `  held-out lines (${EVAL}): dense ${acc(dense).toFixed(2)}%, RTN int4 ${acc(r).toFixed(2)}%, QAT int4 ${acc(q).toFixed(2)}%`,
      `  p(QAT > RTN) ${pBetter(q, r).toExponential(2)}, p(dense > QAT) ${pBetter(dense, q).toFixed(3)}`,
    ].join('\n'));
    expect(acc(dense) - acc(q)).toBeLessThanOrEqual((acc(dense) - acc(r)) / 2);
    expect(pBetter(q, r)).toBeLessThan(ALPHA);

    const ops = (f: string): string[] => loadModel(f).graph.nodes.map((n) => `${n.domain}:${n.opType}`).sort();
    expect(ops(qat)).toEqual(ops(rtn));
  });
});
