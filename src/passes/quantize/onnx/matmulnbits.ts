/**
 * int4 MatMul form: com.microsoft MatMulNBits (onnxruntime
 * docs/ContribOperators.md): Y = A · dequant(B)ᵀ with
 *   attrs K, N, bits = 4, block_size; inputs A, B uint8 [N, nBlocks, bs/2],
 *   scales float [N·nBlocks], optional zero_points uint8 [N, ⌈nBlocks/2⌉]
 *   (absent → 8 for every block).
 * MatMul(A, W[K, N]) is replaced outright. Gemm(A, W, C) with transA = 0,
 * alpha = 1 and (beta = 1 or no C) is the same product (W is [N, K] when
 * transB = 1, exactly MatMulNBits' own layout) followed by Add(C); any other
 * Gemm goes to DequantizeLinear instead (the caller checks `canUseMatMulNBits`).
 * MatMulNBits' A, scales and Y share one type T1 (float or float16), so a
 * float16 weight (whose MatMul reads float16 A) gets float16 scales and the
 * graph's types stay as they were: the q4f16 form of transformers.js. T1 has
 * no bfloat16 in onnxruntime 1.30's CPU provider, so bfloat16 weights take
 * the DequantizeLinear form. So does a float16 weight with an output column
 * whose largest |w| is below 15·2^-14: its float16 scales would be subnormal
 * and keep only a few significant bits (the DequantizeLinear form then
 * keeps float32 scales and casts).
 */
import { intAttr, Node } from '../../../ir';
import type { MatMulNBitsWeight } from '../int4';
import type { NodeInit, Value } from '../../../ir';
import { addAll, byteSum, constant, Consumer, EmitContext, Emission, floatConstant, floatValue, node, nodeBase, weightFloat, WeightFloat } from './common';

/** True when `c` can become MatMulNBits: 2-D constant B of MatMul, or a plain Gemm. */
export function canUseMatMulNBits(c: Consumer, weight: Value): boolean {
  const n = c.node;
  if (n.domain !== '' || c.index !== 1 || weight.const?.shape.length !== 2) return false;
  if (weight.const.dtype !== 'float32' && weight.const.dtype !== 'float16') return false;
  if (weight.const.dtype === 'float16' && hasTinyColumn(weight, n.opType === 'Gemm' && n.attrInt('transB', 0) === 1)) return false;
  if (n.opType === 'MatMul') return true;
  if (n.opType !== 'Gemm') return false;
  const hasC = n.inputs.length > 2 && n.inputs[2] !== null;
  return n.attrInt('transA', 0) === 0 && n.attrFloat('alpha', 1) === 1 && (!hasC || n.attrFloat('beta', 1) === 1);
}

export function emitMatMulNBits(ctx: EmitContext, weight: Value, packed: MatMulNBitsWeight, consumers: Consumer[]): Emission {
  const nb = Math.ceil(packed.k / packed.blockSize);
  const b = constant(ctx, `${weight.name}_Q4`, 'uint8', [packed.n, nb, packed.blockSize / 2], packed.b);
  const wf = weightFloat(weight);
  const scales = floatConstant(ctx, `${weight.name}_scales`, [packed.n * nb], packed.scales, wf);
  const constants = [b, scales];
  let zp: Value | null = null;
  if (packed.zeroPoints) {
    zp = constant(ctx, `${weight.name}_zero_points`, 'uint8', [packed.zeroPoints.length], packed.zeroPoints);
    constants.push(zp);
  }
  const edits: Emission['edits'] = addAll(constants);
  for (const c of consumers) edits.push({ kind: 'replaceNode', node: c.node, with: replacement(ctx, c.node, packed, b, scales, zp, wf) });
  return {
    edits,
    opsets: [{ domain: 'com.microsoft', version: 1 }],
    bytesAfter: byteSum(constants),
    form: `MatMulNBits ${packed.zeroPoints ? 'uint4+zp' : 'int4'} block=${packed.blockSize}${wf === 'float16' ? ' float16' : ''}`,
  };
}

function replacement(ctx: EmitContext, n: Node, p: MatMulNBitsWeight, b: Value, scales: Value, zp: Value | null, wf: WeightFloat): NodeInit[] {
  const base = nodeBase(n);
  const out = n.outputs[0];
  const hasBias = n.opType === 'Gemm' && n.inputs.length > 2 && n.inputs[2] !== null;
  const product = hasBias ? floatValue(ctx, `${base}_MatMulNBits_output`, undefined, wf) : out;
  const inputs = [n.inputs[0], b, scales];
  if (zp) inputs.push(zp);
  const mm: NodeInit = {
    opType: 'MatMulNBits',
    domain: 'com.microsoft',
    name: ctx.names.fresh(`${base}_MatMulNBits`),
    inputs,
    outputs: [product],
    attributes: [intAttr('K', p.k), intAttr('N', p.n), intAttr('bits', 4), intAttr('block_size', p.blockSize)],
  };
  if (!hasBias) return [mm];
  return [mm, node(ctx, 'Add', `${base}_bias_Add`, { inputs: [product, n.inputs[2]], outputs: [out] })];
}

/** Below this max |w| an int4 scale (max |w| / 7 symmetric, range / 15 asymmetric) may fall under float16's 2^-14. */
const TINY_COLUMN = 15 * 2 ** -14;

/** Whether some output column of the 2-D weight ([K, N], or [N, K] when transposed) has max |w| < TINY_COLUMN. */
function hasTinyColumn(weight: Value, transposed: boolean): boolean {
  const [rows, cols] = weight.const!.shape;
  const w = weight.const!.toFloat32();
  const n = transposed ? rows : cols;
  const max = new Float32Array(n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const j = transposed ? r : c;
      const a = Math.abs(w[r * cols + c]);
      if (a > max[j]) max[j] = a;
    }
  }
  return max.some((m) => m > 0 && m < TINY_COLUMN);
}
