/**
 * What mc calls a model's *parameter count*, precisely:
 *
 *   the number of elements of every constant tensor (ONNX initializers of the
 *   main graph and of nested subgraphs; tfjs manifest weights) that holds
 *   learned values, where a constant holds learned values when
 *     - its dtype is a floating-point type (float32/16/64, bfloat16, float8, float4), or
 *     - its dtype is an integer type and some node reads it through a weight slot:
 *       a slot the op registry knows (Conv W and B, Gemm B and C, Gather data, ...)
 *       or a quantized-weight slot (DequantizeLinear x, MatMulNBits B, QLinearConv w, ...).
 *
 * Integer constants read only as shapes, axes or indices (Reshape's shape,
 * Slice's starts, tfjs int32 Const nodes) are bookkeeping, not parameters;
 * bool and string constants never count. The tensors of ONNX `Constant` nodes
 * count like initializers (paddle2onnx and spox store every weight that way). For a Keras/tfjs layers model this equals
 * tfjs `model.countParams()`; for a PyTorch export it equals `sum(p.numel())`
 * over the exported parameters.
 *
 * Counting reads shapes only: no weight is decoded or loaded.
 */
import { DType, OpRegistry, Tensor, Value, defaultOpRegistry, isFloatDType } from '../ir';
import { quantizedWeightSlots } from './quantization';

const INTEGER_DTYPES: ReadonlySet<DType> = new Set<DType>([
  'int4', 'uint4', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
]);

/** `tensor` is the value's data: its initializer tensor, or a Constant node's attribute for that node's output. */
export function isLearnedConstant(v: Value, registry: OpRegistry = defaultOpRegistry, tensor: Tensor | undefined = v.const): boolean {
  const t = tensor;
  if (!t) return false;
  if (isFloatDType(t.dtype)) return true;
  if (!INTEGER_DTYPES.has(t.dtype)) return false;
  return v.uses.some(({ node }) =>
    registry.weightSlots(node).some((i) => node.inputs[i] === v) || quantizedWeightSlots(node).some((i) => node.inputs[i] === v));
}

/** A constant and its data (initializers carry it in `value.const`; a Constant node's output does not). */
export interface ConstantData {
  value: Value;
  tensor: Tensor;
}

export function countParameters(constants: Iterable<ConstantData>, registry: OpRegistry = defaultOpRegistry): number {
  let n = 0;
  for (const c of constants) if (isLearnedConstant(c.value, registry, c.tensor)) n += logicalElements(c.value, c.tensor);
  return n;
}

/**
 * Elements a constant stands for. MatMulNBits packs its 4-bit B as uint8 bytes
 * [N, K/block, block·bits/8], so the weight count is N·K from its attributes,
 * not the byte count; every other tensor counts its own elements.
 */
function logicalElements(v: Value, t: Tensor): number {
  for (const { node, index } of v.uses) {
    if (node.domain === 'com.microsoft' && node.opType === 'MatMulNBits' && index === 1) {
      return node.attrInt('N') * node.attrInt('K');
    }
  }
  return t.size;
}
