/**
 * Finds weights that a model stores in a quantized encoding, without decoding them.
 */
import { DTYPE_BITS, DType, Model, Node, Tensor, Value } from '../ir';
import { getTfjsQuantization } from '../formats/tfjs/quantization';
import type { StoredQuantization } from './report';

/**
 * ONNX ops whose constant inputs at these slots hold quantized weights
 * (onnx.ai/onnx/operators; com.microsoft contrib ops docs):
 *  DequantizeLinear x (0), QuantizeLinear x (0, a float weight quantized at run time),
 *  MatMulNBits B (1, packed uint8), QLinearConv w (3), QLinearMatMul b (3),
 *  MatMulInteger B (1), ConvInteger w (1).
 */
const ONNX_QUANT_INPUTS: Readonly<Record<string, readonly number[]>> = {
  '::DequantizeLinear': [0],
  '::QuantizeLinear': [0],
  'com.microsoft::DequantizeLinear': [0],
  'com.microsoft::QuantizeLinear': [0],
  'com.microsoft::MatMulNBits': [1],
  '::QLinearConv': [3],
  '::QLinearMatMul': [3],
  '::MatMulInteger': [1],
  '::ConvInteger': [1],
};

const WIDE_FLOATS: ReadonlySet<DType> = new Set<DType>(['float32', 'float16', 'float64', 'bfloat16']);

function opKey(node: Node): string {
  return `${node.domain === 'ai.onnx' ? '' : node.domain}::${node.opType}`;
}

/** The input slots of `node` that hold quantized weights, or [] when the op has none. */
export function quantizedWeightSlots(node: Node): readonly number[] {
  return ONNX_QUANT_INPUTS[opKey(node)] ?? [];
}

/** The quantized-weight slots of `node` that hold constants, or [] when the op has none. */
export function quantizedWeightInputs(node: Node): Value[] {
  const slots = quantizedWeightSlots(node);
  const out: Value[] = [];
  for (const i of slots) {
    const v = node.inputs[i];
    if (v?.const) out.push(v);
  }
  return out;
}

export function findStoredQuantization(model: Model, constants: readonly { value: Value; tensor: Tensor }[]): StoredQuantization[] {
  const found: StoredQuantization[] = [];
  const data = new Map<Value, Tensor>();
  for (const { value: v, tensor: t } of constants) {
    data.set(v, t);
    const q = getTfjsQuantization(t);
    if (q) {
      const stored = q.quantization.dtype;
      found.push({
        tensor: v.name, scheme: 'tfjs-manifest', op: null, storedDtype: stored,
        bits: DTYPE_BITS[stored], shape: [...t.shape], elements: t.size,
        storedBytes: q.storedBytes.byteLength, axis: null, blockSize: null,
      });
    }
  }
  if (model.format !== 'onnx') return found;
  const seen = new Set<Value>();
  for (const node of model.graph.allNodes()) {
    for (const i of quantizedWeightSlots(node)) {
      const v = node.inputs[i];
      const t = v ? data.get(v) : undefined;
      if (!v || !t || seen.has(v)) continue;
      seen.add(v);
      // A float weight feeding QuantizeLinear is quantized at run time, not stored quantized.
      if (WIDE_FLOATS.has(t.dtype)) continue;
      const nbits = node.opType === 'MatMulNBits' ? node.attrInt('bits', 4) : DTYPE_BITS[t.dtype as DType];
      found.push({
        tensor: v.name, scheme: 'onnx-op',
        op: node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType,
        storedDtype: t.dtype, bits: nbits, shape: [...t.shape], elements: t.size,
        storedBytes: t.byteLength,
        axis: node.attributes.has('axis') ? node.attrInt('axis') : null,
        blockSize: node.attributes.has('block_size') ? node.attrInt('block_size') : null,
      });
    }
  }
  return found;
}
