import { minimatch } from 'minimatch';
import { defaultOpRegistry, Model, OpRegistry } from '../../ir';
import type { PruneTarget, SkippedLayer } from './types';

/** Ops that compute on integer weights, with the weight's input slot (ONNX and com.microsoft). */
const INTEGER_COMPUTE: Readonly<Record<string, number>> = { ConvInteger: 1, MatMulInteger: 1, QLinearConv: 3, QLinearMatMul: 3, MatMulNBits: 1 };

/**
 * The weights a pruner may touch: registry role 'weight' (Conv, Gemm/MatMul with a
 * constant B, tf Conv2D/MatMul, Keras Dense/Conv2D), float32 (float16 too with
 * `opts.float16`: magnitude pruning of elements writes zeros in place), not excluded by a glob.
 * Biases, norms and embeddings are never pruned. A weight shared by several nodes
 * is one target (the first node names it). Nodes in subgraphs (If/Loop/Scan bodies) count:
 * exporters put whole models there (silero-vad's 16 kHz and 8 kHz branches of one If).
 * Weights stored quantized (behind DequantizeLinear, or read by an integer op) are skipped, each named.
 */
export function findTargets(
  model: Model, exclude: readonly string[], registry: OpRegistry = defaultOpRegistry, opts: { float16?: boolean } = {},
): { targets: PruneTarget[]; skipped: SkippedLayer[] } {
  const targets: PruneTarget[] = [];
  const skipped: SkippedLayer[] = [];
  const seen = new Set<unknown>();
  for (const node of model.graph.allNodes()) {
    const slot = INTEGER_COMPUTE[node.opType];
    if (slot !== undefined && node.inputs[slot]) {
      skipped.push({ layer: node.name || node.inputs[slot]!.name, reason: `${node.describe()} computes on stored integer weights: prune the float model, then quantize`, params: node.inputs[slot]!.const?.size });
      continue;
    }
    for (const i of registry.weightSlots(node)) {
      // A weight stored quantized (QDQ: stored integers → DequantizeLinear → Conv) has no float values to prune.
      const v = node.inputs[i]!;
      const from = v.producer;
      if (v.const || from?.opType !== 'DequantizeLinear' || !from.inputs[0]?.const || registry.slotOf(node, i, 1)?.spec.role !== 'weight') continue;
      skipped.push({ layer: node.name || v.name, reason: `weight '${v.name}' is computed by ${from.describe()}: it is stored quantized (prune the float model, then quantize)`, params: from.inputs[0]!.const!.size });
    }
    for (const w of registry.weightsOf(node)) {
      if (w.spec.role !== 'weight' || seen.has(w.value)) continue;
      seen.add(w.value);
      const layer = node.name || w.value.name;
      if (exclude.some((g) => minimatch(layer, g) || minimatch(w.value.name, g))) {
        skipped.push({ layer, reason: 'excluded' });
        continue;
      }
      const t = w.value.const!;
      if (t.dtype === 'float16' && !opts.float16) {
        skipped.push({ layer, reason: 'weight is float16: only magnitude pruning of elements (unstructured, n:m) keeps float16 weights, not channel, saliency or sparsegpt', params: t.size });
        continue;
      }
      if (t.dtype !== 'float32' && t.dtype !== 'float16') {
        skipped.push({ layer, reason: `weight is ${t.dtype}, not float32`, params: t.size });
        continue;
      }
      if (w.outAxis === undefined || w.inAxis === undefined) continue;
      targets.push({ layer, node, value: w.value, outAxis: w.outAxis, inAxis: w.inAxis });
    }
  }
  return { targets, skipped };
}
