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
 * bool and string constants never count. ONNX `Constant` nodes are nodes, not
 * initializers, and are not counted. For a Keras/tfjs layers model this equals
 * tfjs `model.countParams()`; for a PyTorch export it equals `sum(p.numel())`
 * over the exported parameters.
 *
 * Counting reads shapes only: no weight is decoded or loaded.
 */
import { DType, OpRegistry, Value, defaultOpRegistry, isFloatDType } from '../ir';
import { quantizedWeightInputs } from './quantization';

const INTEGER_DTYPES: ReadonlySet<DType> = new Set<DType>([
  'int4', 'uint4', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
]);

export function isLearnedConstant(v: Value, registry: OpRegistry = defaultOpRegistry): boolean {
  const t = v.const;
  if (!t) return false;
  if (isFloatDType(t.dtype)) return true;
  if (!INTEGER_DTYPES.has(t.dtype)) return false;
  return v.uses.some(({ node }) =>
    registry.weightsOf(node).some((w) => w.value === v) || quantizedWeightInputs(node).includes(v));
}

export function countParameters(constants: Iterable<Value>, registry: OpRegistry = defaultOpRegistry): number {
  let n = 0;
  for (const v of constants) if (isLearnedConstant(v, registry)) n += logicalElements(v);
  return n;
}

/**
 * Elements a constant stands for. MatMulNBits packs its 4-bit B as uint8 bytes
 * [N, K/block, block·bits/8], so the weight count is N·K from its attributes,
 * not the byte count; every other tensor counts its own elements.
 */
function logicalElements(v: Value): number {
  const t = v.const as NonNullable<Value['const']>;
  for (const { node, index } of v.uses) {
    if (node.domain === 'com.microsoft' && node.opType === 'MatMulNBits' && index === 1) {
      return node.attrInt('N') * node.attrInt('K');
    }
  }
  return t.size;
}
