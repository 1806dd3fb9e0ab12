import { UnsupportedError } from '../errors';
import type { Model, Node, Value } from '../ir';
import { GRADIENTS, passesGradient } from './gradients';

/**
 * What fine-tuning trains in an ONNX graph: the float constants at the parameter slots
 * of these ops (weights and biases; LayerNormalization/BatchNormalization scale and
 * shift). BatchNormalization runs with frozen statistics: its mean and variance are
 * never trained, so the graph keeps its structure (nothing is folded).
 * Add's constant operands are trained too: that is the bias of MatMul + Add.
 */
export const PARAMETER_SLOTS: Readonly<Record<string, readonly number[]>> = {
  Conv: [1, 2],
  Gemm: [1, 2],
  MatMul: [0, 1],
  Add: [0, 1],
  BatchNormalization: [1, 2],
  LayerNormalization: [1, 2],
};

/** The trained constants of `model`'s main graph, in first-use order. */
export function trainableParams(model: Model): Value[] {
  const out: Value[] = [];
  const seen = new Set<Value>();
  for (const n of model.graph.nodes) {
    const slots = n.domain === '' || n.domain === 'ai.onnx' ? PARAMETER_SLOTS[n.opType] : undefined;
    for (const i of slots ?? []) {
      const v = n.inputs[i];
      if (!v?.const || seen.has(v) || v.const.dtype !== 'float32' || v.const.size < 1) continue;
      seen.add(v);
      out.push(v);
    }
  }
  return out;
}

/**
 * Walks every path from the trained weights forward and refuses one that reaches an op
 * without a gradient (or unknown to the gradient table), naming the op, the node and
 * the weight: "an attempt to train through them gives a clear error naming the op".
 */
export function checkTrainable(model: Model, params: readonly Value[]): void {
  const from = new Map<Value, Value>(params.map((p) => [p, p]));
  for (const n of model.graph.nodes) {
    n.inputs.forEach((v, i) => {
      const origin = v && from.get(v);
      if (!origin) return;
      const passes = passesGradient(n.opType, i);
      if (passes === 'constant') return;
      if (passes === undefined) throw new UnsupportedError(`cannot train '${origin.name}': its path to the output goes through ${describe(n)}, an op the executor has no gradient rule for`);
      if (passes === false) {
        const r = GRADIENTS[n.opType];
        throw new UnsupportedError(`cannot train '${origin.name}': its path to the output goes through ${describe(n)}, which has no gradient (${r?.kind === 'none' ? r.why : `input ${i} is not differentiable`})`);
      }
      for (const o of n.outputs) if (!from.has(o)) from.set(o, origin);
    });
  }
}

function describe(n: Node): string {
  return n.name ? `${n.opType} node '${n.name}'` : `a ${n.opType} node`;
}
