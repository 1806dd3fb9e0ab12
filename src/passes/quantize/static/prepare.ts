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
import { runPass } from '../../pass';
import { NameAllocator } from '../edits';
import { gemmToMatMul } from './gemm-to-matmul';
import { ChannelPadding, needsChannelPadding, padConvInputChannels } from './pad-channels';
import { isExcludedNode, MIN_INT8_MATMUL_WEIGHTS, PlanOptions, QdqPlan } from './plan';

export interface Prepared {
  /** Human-readable lines for the report, one per kind of rewrite applied. */
  transformations: string[];
  /** MatMul nodes that were Gemms, for --op-types matching. */
  originalOpType: Map<Node, string>;
}

/** The report line of the channel padding, or undefined when none is left. */
export function paddingLine(padded: readonly ChannelPadding[]): string | undefined {
  if (!padded.length) return undefined;
  return `padded Conv input channels with zeros to a multiple of 4 for onnxruntime's fast int8 conv kernel: ${padded.map((p) => `${p.node} ${p.from}→${p.to}`).join(', ')}`;
}

export function prepareForStaticInt8(model: Model, opts: PlanOptions, toolVersion: string): Prepared {
  const transformations: string[] = [];
  const folded = runPass(foldBatchNormalization, model, { toolVersion }).changes.folded;
  if (folded.length) {
    transformations.push(`folded BatchNormalization into ${[...new Set(folded.map((f) => f.opType))].join('/')}: ${folded.map((f) => `${f.batchNorm} → ${f.into}`).join(', ')}`);
  }
  const names = new NameAllocator(model);
  const gemmAllowed = !opts.opTypes || opts.opTypes.includes('Gemm');
  const big = (n: Node): boolean => (n.inputs[1]?.const?.size ?? 0) >= MIN_INT8_MATMUL_WEIGHTS;
  const gemms = gemmToMatMul(model, names, (n) => gemmAllowed && big(n) && !isExcludedNode(n, opts.exclude));
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
export function padConvsForInt8(model: Model, plan: QdqPlan): { padded: ChannelPadding[]; sources: Map<Value, Value> } {
  const convs = plan.ops.map((o) => o.node).filter(needsChannelPadding);
  const before = convs.map((c) => c.inputs[0]!);
  const padded = padConvInputChannels(model, convs, new NameAllocator(model));
  const sources = new Map<Value, Value>();
  convs.forEach((c, i) => { if (c.inputs[0] !== before[i]) sources.set(c.inputs[0]!, before[i]); });
  return { padded, sources };
}
