/**
 * Exact rewrites that static quantization applies before planning Q/DQ, so
 * that onnxruntime turns the QDQ model into fast integer kernels (each one is
 * measured in bench/static.bench.js):
 *  1. fold BatchNormalization into the Conv/Gemm before it (fold-batchnorm.ts):
 *     a BN left between Conv and its Q/DQ keeps the Conv from fusing into
 *     QLinearConv with its Relu and forces a DQ → BN → Q round trip per layer
 *     (the fixture CNN ran 2.7× slower than float32 without this);
 *  2. Gemm → MatMul + Add (gemm-to-matmul.ts): ORT fuses QDQ MatMul into
 *     QLinearMatMul but never Gemm;
 *  3. after calibration, pad Conv input channels to a multiple of 4
 *     (padConvsForInt8, pad-channels.ts): MLAS's fast int8 convolution needs
 *     it. (A first-layer Conv → MaxPool that space-to-depth-pool.ts rewrites
 *     after emission loses its padding again.)
 * Each is exact in float arithmetic up to float32 rounding of the folded
 * weights; 1 and 2 are reported as lines of `transformations`, 3 as `padded`.
 */
import type { Model, Node, Value } from '../../../ir';
import { foldBatchNormalization } from '../../fold-batchnorm';
import { Pass, runPass } from '../../pass';
import { NameAllocator } from '../edits';
import { gemmToMatMul } from './gemm-to-matmul';
import { ChannelPadding, needsChannelPadding, padConvInputChannels, readsModelInput } from './pad-channels';
import { isExcludedNode, PlanOptions, QdqPlan } from './plan';

export interface Prepared {
  /** Human-readable lines for the report, one per kind of rewrite applied. */
  transformations: string[];
  /** MatMul nodes that were Gemms, for --op-types matching. */
  originalOpType: Map<Node, string>;
}

/** The report lines of the channel padding (appended zeros; pair-safe interleaving), none when nothing is padded. */
export function paddingLines(padded: readonly ChannelPadding[]): string[] {
  const plain = padded.filter((p) => !p.pairSafe);
  const safe = padded.filter((p) => p.pairSafe);
  const lines: string[] = [];
  if (plain.length) lines.push(`padded Conv input channels with zeros to a multiple of 4 for onnxruntime's fast int8 conv kernel: ${plain.map((p) => `${p.node} ${p.from}→${p.to}`).join(', ')}`);
  if (safe.length) lines.push(`interleaved a zero channel after each input channel of the first convolutions, so no int16 pair that AVX2 int8 kernels add holds two non-zero weights (exact on every CPU): ${safe.map((p) => `${p.node} ${p.from}→${p.to}`).join(', ')}`);
  return lines;
}

/** Step 1: BatchNormalization folded into the Conv/Gemm before it; the report line, if any. */
export function foldBatchNormForInt8(model: Model, toolVersion: string): string[] {
  const folded = runPass(foldBatchNormalization, model, { toolVersion }).changes.folded;
  return folded.length ? [`folded BatchNormalization into ${[...new Set(folded.map((f) => f.opType))].join('/')}: ${folded.map((f) => `${f.batchNorm} → ${f.into}`).join(', ')}`] : [];
}

/** Steps 1 and 2. Gemms in opts.keepFloat stay Gemm (they stay float). */
export function prepareForStaticInt8(model: Model, opts: PlanOptions, toolVersion: string): Prepared {
  const folded = foldBatchNormForInt8(model, toolVersion);
  const gemms = rewriteGemmsForInt8(model, opts);
  return { ...gemms, transformations: [...folded, ...gemms.transformations] };
}

/** Step 2 as a Pass (the pipeline runs it between the small-layer decision and calibration). */
export function gemmToMatMulForInt8Pass(opts: PlanOptions): Pass<Prepared> {
  return {
    name: 'gemm-to-matmul-for-int8',
    run: (model) => {
      const r = rewriteGemmsForInt8(model, opts);
      return { modified: r.originalOpType.size > 0, changes: r };
    },
  };
}

/** Step 2: Gemm → MatMul (+ Add) for every Gemm int8 will take (not excluded, not kept float, Gemm in opTypes). */
export function rewriteGemmsForInt8(model: Model, opts: PlanOptions): Prepared {
  const transformations: string[] = [];
  const names = new NameAllocator(model);
  const gemmAllowed = !opts.opTypes || opts.opTypes.includes('Gemm');
  const gemms = gemmToMatMul(model, names, (n) => gemmAllowed && !opts.keepFloat?.has(n) && !isExcludedNode(n, opts.exclude));
  const originalOpType = new Map<Node, string>(gemms.map((g) => [g.matmul, 'Gemm']));
  if (gemms.length) {
    transformations.push(`rewrote Gemm as MatMul${gemms.some((g) => g.biasAdd) ? ' + Add (bias kept in float)' : ''} so onnxruntime runs QLinearMatMul: ${gemms.map((g) => g.node).join(', ')}`);
  }
  return { transformations, originalOpType };
}

/**
 * Pads the input channels of the convolutions `plan` quantizes (pad-channels.ts).
 * Runs after calibration: the padded tensor holds the values of the tensor it
 * pads plus zeros, and zero is inside every quantization range, so it takes
 * that tensor's scale and zero point (`sources` maps it to that tensor).
 * Calibrating the padded tensor instead would run the 4× wider float conv and
 * put the padding's zeros into the histogram methods' distribution.
 */
export function padConvsForInt8(model: Model, plan: QdqPlan, pairSafeFirstLayers = false): { padded: ChannelPadding[]; sources: Map<Value, Value> } {
  const pairSafe = new Set(pairSafeFirstLayers ? plan.ops.map((o) => o.node).filter((n) => readsModelInput(model.graph, n)) : []);
  const convs = plan.ops.map((o) => o.node).filter((n) => needsChannelPadding(n, pairSafe.has(n)));
  const before = convs.map((c) => c.inputs[0]!);
  const padded = padConvInputChannels(model, convs, new NameAllocator(model), pairSafe);
  const sources = new Map<Value, Value>();
  convs.forEach((c, i) => { if (c.inputs[0] !== before[i]) sources.set(c.inputs[0]!, before[i]); });
  return { padded, sources };
}
