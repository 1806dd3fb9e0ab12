/**
 * Folds an inference-form BatchNormalization into the Conv (or Gemm) that
 * feeds it, as onnxruntime's quantization pre-processing and every inference
 * converter do. With
 *   BatchNormalization (onnx.ai/onnx/operators/onnx__BatchNormalization.html):
 *     Y = (X − μ) / √(σ² + ε) · γ + β        per channel c (axis 1)
 *   Conv: X = W ∗ x + b                      W [M, C/group, k...], b [M]
 * and k[c] = γ[c] / √(σ²[c] + ε), the pair is one Conv:
 *     W'[c, ...] = W[c, ...] · k[c]
 *     b'[c]      = (b[c] − μ[c]) · k[c] + β[c]     (b = 0 when the Conv has none)
 * For Gemm (Y = α·A·B' + β_g·C, B' = B or Bᵀ with transB) the output channel
 * is B's column (row with transB); C must be absent or 1-D [M], and the new
 * bias is C'[c] = (β_g·C[c] − μ[c]) · k[c] + β[c] with β_g set to 1.
 *
 * Arithmetic is float64, rounded once to float32, so the result is
 * deterministic. A weight or bias that anything else reads (or that a graph
 * input can override) is never changed: the folded node gets new
 * initializers. Exclusively owned ones get a new Tensor in place, keeping
 * their names (reports and --exclude globs still match).
 *
 * Only folds when the producer's output has exactly one use (the BN) and is
 * not a graph output, the BN has one output (inference form: no training
 * outputs, training_mode 0, spatial 1) and every parameter is a float32
 * constant of shape [M].
 */
import { Graph, Model, Node, Tensor, Value } from '../ir';
import type { Pass, PassContext, PassResult } from './pass';
import { NameAllocator, removeUnusedInitializers } from './quantize/edits';

export interface FoldedBatchNorm {
  /** The BatchNormalization node that was removed. */
  batchNorm: string;
  /** The Conv or Gemm that absorbed it. */
  into: string;
  opType: 'Conv' | 'Gemm';
}

export interface FoldBatchNormChanges {
  folded: FoldedBatchNorm[];
}

export const foldBatchNormalization: Pass<FoldBatchNormChanges> = {
  name: 'fold-batchnorm',
  run(model: Model, _ctx?: PassContext): PassResult<FoldBatchNormChanges> {
    const names = new NameAllocator(model);
    const folded: FoldedBatchNorm[] = [];
    visitGraphs(model.graph, (g) => folded.push(...foldGraph(g, names)));
    return { modified: folded.length > 0, changes: { folded } };
  },
};

function visitGraphs(g: Graph, f: (g: Graph) => void): void {
  f(g);
  for (const n of g.nodes) {
    for (const a of n.attributes.values()) {
      if (a.type === 'graph') visitGraphs(a.value, f);
      else if (a.type === 'graphs') a.value.forEach((s) => visitGraphs(s, f));
    }
  }
}

interface Candidate {
  producer: Node;
  bn: Node;
  /** Index of the output-channel axis of the weight. */
  outAxis: number;
  weight: Value;
  bias: Value | null;
}

function foldGraph(graph: Graph, names: NameAllocator): FoldedBatchNorm[] {
  const done: FoldedBatchNorm[] = [];
  for (const bn of [...graph.nodes]) {
    const c = candidate(graph, bn);
    if (!c) continue;
    fold(graph, c, names);
    done.push({ batchNorm: bn.name, into: c.producer.name, opType: c.producer.opType as 'Conv' | 'Gemm' });
  }
  return done;
}

const isF32Const = (v: Value | null | undefined): v is Value & { const: Tensor } => !!v?.const && v.const.dtype === 'float32';

/** The Conv/Gemm → BN pair `bn` closes, or undefined when it cannot be folded exactly. */
function candidate(graph: Graph, bn: Node): Candidate | undefined {
  if (bn.opType !== 'BatchNormalization' || (bn.domain !== '' && bn.domain !== 'ai.onnx')) return undefined;
  if (bn.outputs.length !== 1 || bn.attrInt('training_mode', 0) !== 0 || bn.attrInt('spatial', 1) !== 1) return undefined;
  const x = bn.inputs[0];
  const p = x?.producer;
  if (!x || !p || p.graph !== graph || x.uses.length !== 1 || graph.outputs.includes(x)) return undefined;
  if (p.domain !== '' && p.domain !== 'ai.onnx') return undefined;
  const w = p.inputs[1];
  if (!isF32Const(w) || graph.inputs.includes(w)) return undefined;
  let outAxis: number;
  let bias: Value | null = p.inputs[2] ?? null;
  if (p.opType === 'Conv') {
    if (w.const.shape.length < 3 || p.outputs.length !== 1) return undefined;
    outAxis = 0;
  } else if (p.opType === 'Gemm') {
    if (w.const.shape.length !== 2) return undefined;
    outAxis = p.attrInt('transB', 0) ? 0 : 1;
  } else {
    return undefined;
  }
  const m = w.const.shape[outAxis];
  const params = bn.inputs.slice(1, 5);
  if (params.length !== 4 || !params.every((v) => isF32Const(v) && v.const.shape.length === 1 && v.const.shape[0] === m)) return undefined;
  if (bias && (!isF32Const(bias) || graph.inputs.includes(bias) || bias.const.shape.length !== 1 || bias.const.shape[0] !== m)) return undefined;
  return { producer: p, bn, outAxis, weight: w, bias };
}

function fold(graph: Graph, c: Candidate, names: NameAllocator): void {
  const { producer, bn } = c;
  const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((v) => v!.const!.toFloat32());
  const eps = bn.attrFloat('epsilon', 1e-5);
  const m = gamma.length;
  const k = new Float64Array(m);
  // ε is a float32 attribute; ORT adds it in float32 too, and float64 keeps the rest exact enough.
  for (let i = 0; i < m; i++) k[i] = gamma[i] / Math.sqrt(variance[i] + eps);

  const wt = c.weight.const!;
  const w = wt.toFloat32();
  const wOut = new Float32Array(w.length);
  const shape = wt.shape;
  // Element i belongs to channel ⌊i / inner⌋ mod M, with `inner` the product of the dims after outAxis.
  let inner = 1;
  for (let d = c.outAxis + 1; d < shape.length; d++) inner *= shape[d];
  for (let i = 0; i < w.length; i++) wOut[i] = w[i] * k[Math.floor(i / inner) % m];

  const gemmBeta = producer.opType === 'Gemm' ? producer.attrFloat('beta', 1) : 1;
  const b = c.bias?.const?.toFloat32();
  const bOut = new Float32Array(m);
  for (let i = 0; i < m; i++) bOut[i] = ((b ? gemmBeta * b[i] : 0) - mean[i]) * k[i] + beta[i];

  const newWeight = replaceConst(graph, c.weight, Tensor.fromArray('float32', [...shape], wOut), names);
  const newBias = c.bias
    ? replaceConst(graph, c.bias, Tensor.fromArray('float32', [m], bOut), names)
    : addConst(graph, names.fresh(`${producer.name || c.weight.name}.bias`), Tensor.fromArray('float32', [m], bOut));

  // The producer takes over the BN's output Value (name, type, graph-output slot); its own output disappears.
  const bnParams = bn.inputs.slice(1, 5).filter((v): v is Value => v !== null);
  const y = bn.outputs[0];
  const old = producer.outputs[0];
  const inputs = [...producer.inputs];
  inputs[1] = newWeight;
  inputs[2] = newBias;
  const attributes = [...producer.attributes.values()].filter((a) => !(producer.opType === 'Gemm' && a.name === 'beta'));
  const replacement = new Node({ opType: producer.opType, domain: producer.domain, name: producer.name, inputs, attributes });
  replacement.docString = producer.docString;
  replacement.metadataProps = producer.metadataProps;
  const at = graph.nodes.indexOf(producer);
  graph.removeNode(bn, true);
  graph.removeNode(producer, true);
  replacement.appendOutput(y);
  graph.addNode(replacement, graph.nodes[at]);
  graph.valueInfos = graph.valueInfos.filter((v) => v !== old);
  removeUnusedInitializers(graph, [...bnParams, c.weight, ...(c.bias ? [c.bias] : [])]);
}

/** A value with `t` as data: the same Value when only the folded node reads it, a new initializer otherwise. */
function replaceConst(graph: Graph, v: Value, t: Tensor, names: NameAllocator): Value {
  const exclusive = v.uses.length === 1 && !graph.outputs.includes(v) && graph.initializers.includes(v);
  if (exclusive) {
    t.name = v.name;
    v.const = t;
    return v;
  }
  return addConst(graph, names.fresh(`${v.name}_folded`), t);
}

function addConst(graph: Graph, name: string, t: Tensor): Value {
  t.name = name;
  return graph.addInitializer(name, t);
}
