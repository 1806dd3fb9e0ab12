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

/**
 * The same for a tfjs graph model's TensorFlow ops (tfjs-converter output): filters and
 * MatMul operands, the fused ops' bias (input 2), BiasAdd's bias, the constant operand of
 * Add/AddV2 (MatMul + Add bias), FusedBatchNorm's scale and offset (never the mean and
 * variance, which stay frozen as on the ONNX side).
 */
export const TF_PARAMETER_SLOTS: Readonly<Record<string, readonly number[]>> = {
  Conv2D: [1],
  _FusedConv2D: [1, 2],
  DepthwiseConv2dNative: [1],
  FusedDepthwiseConv2dNative: [1, 2],
  Conv2DBackpropInput: [1],
  MatMul: [0, 1],
  BatchMatMul: [0, 1],
  BatchMatMulV2: [0, 1],
  _FusedMatMul: [1, 2],
  BiasAdd: [1],
  Add: [0, 1],
  AddV2: [0, 1],
  FusedBatchNorm: [1, 2],
  FusedBatchNormV3: [1, 2],
};

function slotsOf(n: Node): readonly number[] | undefined {
  if (n.domain === '' || n.domain === 'ai.onnx') return PARAMETER_SLOTS[n.opType];
  return n.domain === 'tf' ? TF_PARAMETER_SLOTS[n.opType] : undefined;
}

/** The trained constants of `model`'s main graph, in first-use order. */
export function trainableParams(model: Model): Value[] {
  const out: Value[] = [];
  const seen = new Set<Value>();
  for (const n of model.graph.nodes) {
    const slots = slotsOf(n);
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
 * Refuses a trained weight whose gradient would have to flow through an op without one
 * (or unknown to the gradient table), naming the op, the node and the weight: "an attempt
 * to train through them gives a clear error naming the op". Only paths the gradient takes
 * count: from `outputs` (what the loss reads; default the first graph output) back through
 * the differentiable inputs of each op. An op that only feeds shapes, indices or other
 * non-differentiable operands (Shape → Cast → Slice → Concat → Reshape's shape input, as
 * paddle2onnx writes a flatten), or a branch the loss never reads, is not in the way.
 */
export function checkTrainable(model: Model, params: readonly Value[], outputs: readonly Value[] = model.graph.outputs.slice(0, 1)): void {
  const needed = gradientPaths(model, outputs);
  const from = new Map<Value, Value>(params.map((p) => [p, p]));
  for (const n of model.graph.nodes) {
    n.inputs.forEach((v, i) => {
      const origin = v && from.get(v);
      if (!origin) return;
      const passes = passesGradient(n.opType, i);
      if (passes === 'constant') return;
      if (n.outputs.some((o) => needed.has(o))) {
        if (passes === undefined) throw new UnsupportedError(`cannot train '${origin.name}': its path to the output goes through ${describe(n)}, an op the executor has no gradient rule for`);
        if (passes === false) {
          const r = GRADIENTS[n.opType];
          throw new UnsupportedError(`cannot train '${origin.name}': its path to the output goes through ${describe(n)}, which has no gradient (${r?.kind === 'none' ? r.why : `input ${i} is not differentiable`})`);
        }
      }
      for (const o of n.outputs) if (!from.has(o)) from.set(o, origin);
    });
  }
}

/**
 * `params` split by whether the gradient of `outputs` (what the loss reads; default the first
 * graph output) reaches them: a weight that only feeds other outputs (another head of a
 * multi-output model) gets no gradient, so it is not trained, and the caller says so.
 * Refuses a model where none is reached.
 */
export function reachedParams(model: Model, params: readonly Value[], outputs: readonly Value[] = model.graph.outputs.slice(0, 1)): { reached: Value[]; unreached: Value[] } {
  const needed = gradientPaths(model, outputs);
  const reached = params.filter((p) => needed.has(p));
  if (!reached.length) throw new UnsupportedError(`no trainable weight reaches the output the loss reads ('${outputs[0]?.name}')`);
  return { reached, unreached: params.filter((p) => !needed.has(p)) };
}

/**
 * The values a gradient of `outputs` has to reach: the outputs, then (in reverse graph
 * order) the inputs of a reached node at the positions it is differentiable at, and all
 * inputs of a reached node with no gradient (rule 'none' or none at all), where the
 * gradient would have to go and cannot (checkTrainable refuses a weight there). A
 * position an op is not differentiable at by design (a shape, axes, indices, Clip's
 * bounds) is not followed.
 */
function gradientPaths(model: Model, outputs: readonly Value[]): Set<Value> {
  const needed = new Set<Value>(outputs);
  const nodes = model.graph.nodes;
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    n.inputs.forEach((v, i) => {
      const p = passesGradient(n.opType, i);
      if (v && p !== 'constant' && (p !== false || GRADIENTS[n.opType]?.kind === 'none')) needed.add(v);
    });
  }
  return needed;
}

function describe(n: Node): string {
  return n.name ? `${n.opType} node '${n.name}'` : `a ${n.opType} node`;
}
