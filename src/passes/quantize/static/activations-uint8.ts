/**
 * Moves the activations of a QDQ graph from int8 to uint8 storage: every
 * activation QuantizeLinear whose readers are all DequantizeLinear gets the
 * zero point z + 128 as uint8, and so do those readers. For every value
 * q_u8 = q_s8 + 128 and (q_u8 − (z + 128)) = (q_s8 − z), so the dequantized
 * values, and the model's outputs, are unchanged. Weights (constant DQ
 * inputs) stay int8: onnxruntime's kernels take uint8 activations with int8
 * weights (U8S8), the form it converts int8 QDQ pairs to on x86 anyway
 * (QDQS8ToU8Transformer).
 */
import { Graph, Node, Tensor, Value } from '../../../ir';
import { NameAllocator } from '../edits';

const isOp = (n: Node, op: string): boolean => n.opType === op && (n.domain === '' || n.domain === 'ai.onnx');

/** Rewrites the graph in place; returns the int8 zero-point initializers it stopped reading. */
export function storeActivationsAsUint8(graph: Graph, names: NameAllocator): Value[] {
  const mapped = new Map<Value, Value>();
  const toUint8 = (zp: Value): Value => {
    let u = mapped.get(zp);
    if (!u) {
      const name = names.fresh(`${zp.name}_uint8`);
      const z = Number(zp.const!.typed()[0]);
      u = graph.addInitializer(name, Tensor.fromArray('uint8', [...zp.const!.shape], Uint8Array.from([z + 128]), name));
      mapped.set(zp, u);
    }
    return u;
  };
  const isInt8Scalar = (v: Value | null | undefined): v is Value => !!v?.const && v.const.dtype === 'int8' && v.const.size === 1;
  for (const q of [...graph.nodes]) {
    if (!isOp(q, 'QuantizeLinear') || !isInt8Scalar(q.inputs[2])) continue;
    const out = q.outputs[0];
    if (graph.outputs.includes(out) || !out.uses.every((u) => isOp(u.node, 'DequantizeLinear') && u.index === 0 && isInt8Scalar(u.node.inputs[2]))) continue;
    for (const u of [...out.uses]) u.node.setInput(2, toUint8(u.node.inputs[2]!));
    q.setInput(2, toUint8(q.inputs[2]!));
    out.dtype = 'uint8';
  }
  return [...mapped.keys()];
}
