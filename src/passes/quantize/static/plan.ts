/**
 * Where Q/DQ pairs go in a static int8 (QDQ) model. The rules are those under
 * which onnxruntime's QDQ transformers (onnxruntime/core/optimizer/qdq_transformer,
 * selectors_actions/qdq_selectors.cc) turn DQ → op → Q groups into integer
 * kernels, so the int8 model actually runs integer code:
 *
 *  - Conv, MatMul, Gemm: every activation input gets Q/DQ, the weight is int8
 *    + DQ, the bias int32 + DQ, and the output gets Q/DQ (QLinearConv,
 *    QLinearMatMul, QGemm). A MatMul/Gemm whose output is a graph output keeps
 *    a float output (MatMulIntegerToFloat / QGemm with float output).
 *  - Relu or Clip as the only consumer of such an output is folded: the Q/DQ
 *    goes after it, with the range observed there (so its zero point is qmin),
 *    and ORT's ReluQuantFusion / ClipQuantFusion drop the activation, which the
 *    Q's saturation then performs. This is what onnxruntime's quantizer does.
 *  - Scale-preserving ops (the op registry's list: MaxPool, Reshape, Flatten,
 *    Transpose, Squeeze, ...) whose input is quantized give their output the
 *    same scale and zero point (ORT's DropQDQNodesRules then run them on int8
 *    directly). Relu/Clip that are not folded get their own range.
 *  - Add, Mul, Concat whose activation inputs are all quantized get a
 *    quantized output (QLinearAdd / QLinearMul / QLinearConcat).
 *  - Q/DQ that only a float op would read (a propagated scale feeding nothing
 *    quantized) is dropped again: it would only add work.
 *
 * Planning reads the graph and never changes it.
 */
import { minimatch } from 'minimatch';
import { defaultOpRegistry, Graph, Node, OpRegistry, Value } from '../../../ir';

export interface ComputeOp {
  node: Node;
  /** Activation input slots that get Q/DQ. */
  activations: number[];
  /** The constant weight (int8 + DQ), with its per-channel axis. */
  weight?: { index: number; value: Value; outAxis: number };
  /** A constant bias quantized to int32 with scale s_x·s_w. */
  bias?: { index: number; value: Value };
}

export interface SkippedNode {
  node: string;
  opType: string;
  reason: string;
}

export interface QdqPlan {
  /** Every tensor that gets Q/DQ, mapped to the tensor whose scale and zero point it uses (itself when calibrated). */
  tensors: Map<Value, Value>;
  /** Conv/MatMul/Gemm nodes with integer weights. */
  ops: ComputeOp[];
  /** Add, Mul, Concat nodes whose inputs and output are all quantized. */
  binary: Node[];
  /** Relu/Clip nodes folded into the preceding Q. */
  folded: Node[];
  skipped: SkippedNode[];
}

export interface PlanOptions {
  exclude: string[];
  opTypes?: string[];
  /** The op type a rewritten node had (a MatMul that was a Gemm), matched against `opTypes`. */
  originalOpType?: ReadonlyMap<Node, string>;
  /**
   * MatMul/Gemm nodes to leave float although they could be int8, with the reason (the
   * pipeline's per-model decision that int8 does not pay for them: src/pipeline/static-decisions.ts).
   */
  keepFloat?: ReadonlyMap<Node, string>;
}

/** True when `--exclude` names the node (minimatch globs over node names). */
export function isExcludedNode(n: Node, exclude: readonly string[]): boolean {
  return n.name !== '' && exclude.some((g) => minimatch(n.name, g, { dot: true }));
}

const COMPUTE = new Set(['Conv', 'MatMul', 'Gemm']);

const BINARY = new Set(['Add', 'Mul']);
const FOLDABLE = new Set(['Relu', 'Clip']);

export function planQdq(graph: Graph, opts: PlanOptions, registry: OpRegistry = defaultOpRegistry): QdqPlan {
  const tensors = new Map<Value, Value>();
  /** Tensors whose Q/DQ a fused group needs (compute inputs and outputs). */
  const required = new Set<Value>();
  /** Nodes that read quantized inputs in integer form. */
  const quantNodes = new Set<Node>();
  const ops: ComputeOp[] = [];
  const binary: Node[] = [];
  const folded: Node[] = [];
  const foldedSet = new Set<Node>();
  const skipped: SkippedNode[] = [];
  const outputs = new Set(graph.outputs);
  const excluded = (n: Node): boolean => isExcludedNode(n, opts.exclude);
  const allowed = (n: Node): boolean => !opts.opTypes || opts.opTypes.includes(opts.originalOpType?.get(n) ?? n.opType);
  const skip = (n: Node, reason: string): void => { skipped.push({ node: n.name, opType: n.opType, reason }); };
  const isFloatActivation = (v: Value | null): v is Value => v !== null && !v.isConstant && (v.dtype === undefined || v.dtype === 'float32');

  const requireInput = (v: Value): void => {
    if (!tensors.has(v)) tensors.set(v, v);
    required.add(v);
  };
  /** Quantizes a fused op's output, or the output of the Relu/Clip that alone consumes it. */
  const quantizeOutput = (n: Node): void => {
    const out = n.outputs[0];
    const only = out.uses.length === 1 ? out.uses[0].node : undefined;
    if (only && only.domain === '' && FOLDABLE.has(only.opType) && !outputs.has(out) && !excluded(only) && only.outputs.length > 0) {
      foldedSet.add(only);
      folded.push(only);
      const r = only.outputs[0];
      tensors.set(r, r);
      required.add(r);
      return;
    }
    tensors.set(out, out);
    required.add(out);
  };

  for (const n of graph.nodes) {
    if (foldedSet.has(n) || n.outputs.length === 0) continue;
    if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
    const out = n.outputs[0];
    if (COMPUTE.has(n.opType)) {
      if (!allowed(n)) { skip(n, 'not in --op-types'); continue; }
      if (excluded(n)) { skip(n, 'excluded'); continue; }
      const op = computeOp(n, registry, opts, isFloatActivation);
      if (typeof op === 'string') { skip(n, op); continue; }
      for (const slot of op.activations) requireInput(n.inputs[slot]!);
      ops.push(op);
      quantNodes.add(n);
      const floatOut = n.opType !== 'Conv' && (outputs.has(out) || out.uses.length === 0);
      if (!floatOut) quantizeOutput(n);
      continue;
    }
    if (BINARY.has(n.opType) || n.opType === 'Concat') {
      const ins = n.inputs;
      const ok = ins.length >= 2 && ins.every((v) => isFloatActivation(v) && tensors.has(v));
      if (!ok) {
        if (ins.some((v) => v !== null && tensors.has(v))) skip(n, 'not every input is a quantized activation; left float');
        continue;
      }
      if (!allowed(n)) { skip(n, 'not in --op-types'); continue; }
      if (excluded(n)) { skip(n, 'excluded'); continue; }
      for (const v of ins) requireInput(v!);
      quantNodes.add(n);
      binary.push(n);
      quantizeOutput(n);
      continue;
    }
    const input = n.inputs[0] ?? null;
    if (!input || !tensors.has(input) || !isFloatActivation(out) || outputs.has(out) || excluded(n)) continue;
    if (FOLDABLE.has(n.opType)) {
      tensors.set(out, out); // own range: sharing the input's would waste the negative half
      quantNodes.add(n);
    } else if (registry.isScalePreserving(n)) {
      tensors.set(out, tensors.get(input)!);
      quantNodes.add(n);
    }
  }

  // Drop Q/DQ on propagated tensors that nothing quantized reads (reverse order: consumers first).
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    for (const o of n.outputs) {
      if (!tensors.has(o) || required.has(o)) continue;
      if (!o.uses.some((u) => quantNodes.has(u.node))) {
        tensors.delete(o);
        quantNodes.delete(n);
      }
    }
  }
  // A shared tensor whose source was dropped takes its own range.
  for (const [t, src] of tensors) if (!tensors.has(src)) tensors.set(t, t);
  return { tensors, ops, binary, folded, skipped };
}

/** The quantized form of a Conv/MatMul/Gemm, or why it stays float. */
function computeOp(n: Node, registry: OpRegistry, opts: PlanOptions, isFloat: (v: Value | null) => v is Value): ComputeOp | string {
  const x = n.inputs[0] ?? null;
  if (!isFloat(x)) return 'input is not a float32 activation';
  const w = n.inputs[1] ?? null;
  if (!w) return 'no weight input';
  if (!w.const) {
    if (n.opType === 'MatMul' && isFloat(w)) return { node: n, activations: [0, 1] };
    return 'weight is not a constant';
  }
  if (w.const.dtype !== 'float32') return `weight is ${w.const.dtype}, not float32`;
  if (opts.exclude.some((g) => minimatch(w.name, g, { dot: true }))) return 'weight excluded';
  const rank = w.const.shape.length;
  if (n.opType === 'Conv' && rank < 3) return 'Conv weight rank < 3';
  if (n.opType !== 'Conv' && rank !== 2) return `${n.opType} weight is not 2-D`;
  const keep = opts.keepFloat?.get(n);
  if (keep !== undefined) return keep;
  const rw = registry.weightsOf(n).find((r) => r.index === 1 && r.spec.role === 'weight');
  if (!rw || rw.outAxis === undefined) return 'the op registry has no weight layout for it';
  const op: ComputeOp = { node: n, activations: [0], weight: { index: 1, value: w, outAxis: rw.outAxis } };
  const b = n.inputs[2] ?? null;
  if (b) {
    const outChannels = w.const.shape[rw.outAxis];
    const biasOk = b.const !== undefined && b.const.dtype === 'float32' && b.const.shape.length === 1 && b.const.shape[0] === outChannels
      && (n.opType !== 'Gemm' || n.attrFloat('beta', 1) === 1);
    if (biasOk) op.bias = { index: 2, value: b };
  }
  return op;
}
