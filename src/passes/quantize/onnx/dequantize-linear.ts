/**
 * Weight-only form: the weight becomes an integer initializer plus a
 * DequantizeLinear node whose float output feeds the original op, which is
 * left as it was (onnx.ai/onnx/operators/onnx__DequantizeLinear.html):
 *   y = (x - x_zero_point) · x_scale
 *  - per tensor: scalar scale, opset 10;
 *  - per axis: 1-D scale along `axis`, opset 13;
 *  - blocked: scale shaped like x with the blocked axis ⌈D/block_size⌉ long,
 *    `block_size` attribute, opset 21; INT4/UINT4 inputs also need opset 21.
 * All consumers that were chosen for this weight share one DequantizeLinear;
 * consumers not quantized keep reading the float original.
 *
 * The graph keeps the weight's float type. DequantizeLinear's output type is
 * its scale's type, and a float16 scale is allowed from opset 19 on, so a
 * float16 weight gets a float16 scale and opset ≥ 19. A bfloat16 scale is
 * allowed at 19 as well, but onnxruntime 1.30's CPU provider has no such
 * kernel ("Could not find an implementation for DequantizeLinear(19)",
 * measured with onnxruntime-node 1.30), so a bfloat16 weight dequantizes to
 * float32 and a Cast(to BFLOAT16) restores its type. A float16 weight whose
 * scales fall below float16's normal range (2^-14: int8 groups with
 * max |w| < 127·2^-14 ≈ 0.0078) takes the same float32 + Cast path, because a
 * subnormal float16 scale keeps only a few significant bits (at 1e-6 the
 * scale itself would be 6% off).
 */
import { intAttr } from '../../../ir';
import type { NodeInit, Value } from '../../../ir';
import type { QuantizedWeight } from '../weights';
import {
  addAll, byteSum, constant, Consumer, EmitContext, Emission, floatConstant, floatValue, node, ONNX_FLOAT_CODE, storedBytes, weightFloat,
} from './common';

/** Smallest normal float16, 2^-14. */
const FLOAT16_MIN_NORMAL = 2 ** -14;

export function dequantizeLinearOpset(qw: QuantizedWeight): number {
  if (qw.dtype === 'int4' || qw.dtype === 'uint4' || qw.layout.granularity === 'block') return 21;
  return qw.layout.granularity === 'channel' ? 13 : 10;
}

export function emitDequantizeLinear(ctx: EmitContext, weight: Value, qw: QuantizedWeight, consumers: Consumer[]): Emission {
  const shape = weight.const!.shape;
  const wf = weightFloat(weight);
  const scaleType = wf === 'float16' && qw.scales.every((x) => x === 0 || x >= FLOAT16_MIN_NORMAL) ? 'float16' : 'float32';
  const q = constant(ctx, `${weight.name}_quantized`, qw.dtype, shape, storedBytes(qw.values, qw.dtype));
  const scale = floatConstant(ctx, `${weight.name}_scale`, qw.scaleShape, qw.scales, scaleType);
  // Symmetric weights omit the zero point: it defaults to 0 of x's type (signed int8/INT4), saving a byte (or nibble) per group.
  const zp = qw.symmetric ? null : constant(ctx, `${weight.name}_zero_point`, qw.dtype, qw.scaleShape, storedBytes(qw.zeroPoints, qw.dtype));
  const dequantized = floatValue(ctx, `${weight.name}_dequantized`, weight.shape ?? shape, scaleType);
  const out = wf !== scaleType ? floatValue(ctx, `${weight.name}_dequantized_${wf}`, weight.shape ?? shape, wf) : dequantized;
  const attributes = [];
  if (qw.layout.granularity !== 'tensor') attributes.push(intAttr('axis', qw.layout.axis));
  if (qw.layout.granularity === 'block') attributes.push(intAttr('block_size', qw.layout.blockSize));
  const first = consumers[0].anchor ?? consumers[0].node;
  const dq = node(ctx, 'DequantizeLinear', `${weight.name}_DequantizeLinear`, { inputs: zp ? [q, scale, zp] : [q, scale], outputs: [dequantized], attributes });
  const inserted: NodeInit[] = [dq];
  if (out !== dequantized) {
    inserted.push(node(ctx, 'Cast', `${weight.name}_Cast`, { inputs: [dequantized], outputs: [out], attributes: [intAttr('to', ONNX_FLOAT_CODE[wf])] }));
  }
  const constants = zp ? [q, scale, zp] : [q, scale];
  const layout = qw.layout.granularity === 'tensor' ? 'per-tensor' : qw.layout.granularity === 'channel' ? `axis=${qw.layout.axis}` : `axis=${qw.layout.axis} block=${qw.layout.blockSize}`;
  return {
    edits: [
      ...addAll(constants),
      ...inserted.map((n) => ({ kind: 'insertNode' as const, node: n, before: first })),
      ...consumers.map((c) => ({ kind: 'setInput' as const, node: c.node, index: c.index, value: out })),
    ],
    opsets: [{ domain: '', version: Math.max(dequantizeLinearOpset(qw), scaleType === 'float16' ? 19 : 0) }],
    bytesAfter: byteSum(constants),
    form: `DequantizeLinear ${qw.dtype} ${layout}${wf === 'float32' ? '' : wf === scaleType ? ` → ${wf}` : ` → float32 → Cast ${wf}`}`,
  };
}
