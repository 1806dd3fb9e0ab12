/**
 * Weight discovery: every constant tensor a model holds, wherever the file keeps it.
 *
 * ONNX exporters store weights in three places (onnx.ai/onnx/repo-docs/IR.html):
 *  - graph initializers (PyTorch, tf2onnx);
 *  - `Constant` nodes (paddle2onnx, spox: Silero VAD v5), whose tensor is an attribute:
 *    `value` (a TensorProto), `value_float(s)`, `value_int(s)`, or `sparse_value`;
 *  - either of those inside subgraphs (If/Loop/Scan bodies), read there or from an
 *    enclosing graph (outer-scope references).
 * This module finds all of them without changing the model. `lift-constants.ts` turns
 * the Constant nodes that hold weights into initializers, so passes see one form.
 */
import { Graph, Model, Node, SparseTensor, Tensor, Value, elementCount } from '../ir';

/** A constant tensor of the model and where it lives. */
export interface ConstantTensor {
  value: Value;
  tensor: Tensor;
  /** The graph (main graph or a subgraph) that holds it. */
  graph: Graph;
  /** The Constant node that produces it; absent for initializers. */
  node?: Node;
}

/** The main graph and every nested subgraph, outer first. */
export function* graphsOf(g: Graph): Iterable<Graph> {
  yield g;
  for (const n of g.nodes) for (const sub of subgraphsOf(n)) yield* graphsOf(sub);
}

/** The subgraphs held in a node's attributes (If branches, Loop/Scan bodies). */
export function subgraphsOf(n: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of n.attributes.values()) {
    if (a.type === 'graph') out.push(a.value);
    else if (a.type === 'graphs') out.push(...a.value);
  }
  return out;
}

export function isConstantNode(n: Node): boolean {
  return n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx');
}

/**
 * The tensor a Constant node holds, from any of its attribute forms (Constant-1 … -13).
 * `value_float(s)` and `value_int(s)` become float32 / int64 tensors as the spec says;
 * `sparse_value` is densified. Returns null for forms that are not numeric tensors
 * (`value_string(s)`) or a malformed node.
 */
export function constantNodeTensor(n: Node): Tensor | null {
  const name = n.outputs[0]?.name ?? '';
  for (const [key, a] of n.attributes) {
    if (a.type === 'tensor' && key === 'value') return a.value;
    if (key === 'value_float' && a.type === 'float') return Tensor.fromArray('float32', [], Float32Array.of(a.value), name);
    if (key === 'value_floats' && a.type === 'floats') return Tensor.fromArray('float32', [a.value.length], Float32Array.from(a.value), name);
    if (key === 'value_int' && a.type === 'int') return Tensor.fromArray('int64', [], BigInt64Array.of(a.value), name);
    if (key === 'value_ints' && a.type === 'ints') return Tensor.fromArray('int64', [a.value.length], BigInt64Array.from(a.value), name);
    if (key === 'sparse_value' && a.type === 'sparse_tensor') return densify(a.value, name);
  }
  return null;
}

/** Every constant tensor of every graph level: initializers, then Constant nodes, graph by graph. */
export function* constantTensors(model: Model): Iterable<ConstantTensor> {
  for (const graph of graphsOf(model.graph)) {
    for (const value of graph.initializers) if (value.const) yield { value, tensor: value.const, graph };
    for (const node of graph.nodes) {
      if (!isConstantNode(node) || node.outputs.length !== 1) continue;
      const tensor = constantNodeTensor(node);
      if (tensor) yield { value: node.outputs[0], tensor, graph, node };
    }
  }
}

/**
 * A dense copy of an ONNX SparseTensorProto: `indices` are either [NNZ] linear
 * positions or [NNZ, rank] coordinates (onnx.ai IR.html, "Sparse tensors").
 */
export function densify(s: SparseTensor, name = ''): Tensor | null {
  const dtype = s.values.dtype;
  const values = s.values.typed();
  const count = elementCount(s.dims);
  const idx = s.indices.typed();
  const nnz = s.values.size;
  const rank = s.dims.length;
  const linear = s.indices.shape.length === 1;
  if (!(idx instanceof BigInt64Array) && !(idx instanceof Int32Array)) return null;
  const Ctor = values.constructor as { new (n: number): typeof values };
  const out = new Ctor(count);
  for (let i = 0; i < nnz; i++) {
    let at = 0;
    if (linear) at = Number(idx[i]);
    else for (let d = 0; d < rank; d++) at = at * s.dims[d] + Number(idx[i * rank + d]);
    if (at < 0 || at >= count) return null;
    (out as unknown as ArrayLike<unknown> & Record<number, unknown>)[at] = values[i];
  }
  return Tensor.fromArray(dtype, [...s.dims], out, name);
}
