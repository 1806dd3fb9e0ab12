/**
 * Rewrites Gemm(A, B, C) with a constant B, transA = 0 and α = β = 1 as
 *   MatMul(A, B') [+ Add(·, C)]       B' = B, or Bᵀ when transB = 1
 * which computes the same Y = A·B' + C (onnx.ai/onnx/operators/onnx__Gemm.html;
 * Gemm's unidirectional broadcast of C is a special case of Add's).
 *
 * Why: onnxruntime 1.30 never fuses a DQ → Gemm → Q group into an integer
 * kernel on CPU (the group stays float, between extra Q/DQ), but it does fuse
 * DQ → MatMul → Q into QLinearMatMul. Only static quantization uses this.
 *
 * The MatMul keeps the Gemm's name (so --exclude globs still match); a
 * transposed B that only this Gemm read keeps its name too.
 */
import { Graph, Model, Node, Tensor, Value } from '../../../ir';
import { NameAllocator } from '../edits';

export interface GemmRewrite {
  /** The Gemm node, now a MatMul of the same name. */
  node: string;
  /** The MatMul that replaced it. */
  matmul: Node;
  /** Name of the Add that carries the bias, when there is one. */
  biasAdd?: string;
}

export function gemmToMatMul(model: Model, names: NameAllocator, accept: (n: Node) => boolean = () => true): GemmRewrite[] {
  const graph = model.graph;
  const done: GemmRewrite[] = [];
  for (const n of [...graph.nodes]) {
    if (n.opType !== 'Gemm' || (n.domain !== '' && n.domain !== 'ai.onnx') || !accept(n)) continue;
    if (n.attrInt('transA', 0) !== 0 || n.attrFloat('alpha', 1) !== 1 || n.attrFloat('beta', 1) !== 1) continue;
    const b = n.inputs[1];
    if (!b?.const || b.const.dtype !== 'float32' || b.const.shape.length !== 2 || graph.inputs.includes(b)) continue;
    done.push(rewrite(graph, n, b, names));
  }
  return done;
}

function rewrite(graph: Graph, gemm: Node, b: Value, names: NameAllocator): GemmRewrite {
  const a = gemm.inputs[0]!;
  const c = gemm.inputs[2] ?? null;
  const weight = gemm.attrInt('transB', 0) ? transposed(graph, b, names) : b;
  const y = gemm.outputs[0];
  const at = graph.nodes.indexOf(gemm);
  graph.removeNode(gemm, true);
  const before = graph.nodes[at];
  const matmul = new Node({ opType: 'MatMul', name: gemm.name, inputs: [a, weight] });
  matmul.docString = gemm.docString;
  if (!c) {
    matmul.appendOutput(y);
    graph.addNode(matmul, before);
    return { node: gemm.name, matmul };
  }
  const mid = new Value(names.fresh(`${y.name}_matmul`), { dtype: y.dtype, shape: y.shape ? [...y.shape] : undefined });
  matmul.appendOutput(mid);
  const add = new Node({ opType: 'Add', name: names.fresh(`${gemm.name || y.name}_bias`), inputs: [mid, c], outputs: [y] });
  graph.addNode(matmul, before);
  graph.addNode(add, before);
  return { node: gemm.name, matmul, biasAdd: add.name };
}

/** Bᵀ [K, N] from B [N, K]: in place when only this Gemm reads B, else a new initializer. */
function transposed(graph: Graph, b: Value, names: NameAllocator): Value {
  const t = b.const!;
  const [n, k] = t.shape;
  const src = t.toFloat32();
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[j * n + i] = src[i * k + j];
  const exclusive = b.uses.length === 1 && !graph.outputs.includes(b) && graph.initializers.includes(b);
  const name = exclusive ? b.name : names.fresh(`${b.name}_transposed`);
  const tensor = Tensor.fromArray('float32', [k, n], out, name);
  if (!exclusive) return graph.addInitializer(name, tensor);
  b.const = tensor;
  b.shape = [k, n];
  return b;
}
