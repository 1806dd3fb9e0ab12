/**
 * Dynamic int8 form, as onnxruntime's quantize_dynamic writes it (ORT's graph
 * optimizer fuses exactly this pattern into DynamicQuantizeMatMul /
 * MatMulIntegerToFloat, so the int8 kernels run):
 *   DynamicQuantizeLinear(A) → a_q uint8, a_scale, a_zero_point
 *   MatMulInteger(a_q, W_q int8, a_zero_point) / ConvInteger(...) → int32
 *   Cast(to FLOAT) → Mul(·, Mul(a_scale, w_scale)) [→ Add(bias)]
 * Weights are symmetric int8 (zero point 0, so the optional w_zero_point is
 * omitted, and per-channel scales factor out of the integer sum: a per-column
 * [N] vector for MatMul, [M, 1, …] for Conv).
 *   MatMul(A, W[K, N]);  Gemm with transA = 0 (transB folded by transposing the
 *   int8 weight, alpha folded into w_scale, beta·C added afterwards when C is
 *   constant or beta = 1);  Conv (attributes copied to ConvInteger).
 * float16 and bfloat16 weights have no dynamic form: DynamicQuantizeLinear
 * takes float32 only (ONNX spec, T1 = tensor(float)), so the op would need a
 * Cast in and a Cast out around every rewritten node, and onnxruntime's fusion
 * into DynamicQuantizeMatMul matches only the float32 pattern. Their consumers
 * take the weight-only DequantizeLinear form instead (the report's form says so).
 */
import { intAttr, Node, NodeInit, Value } from '../../../ir';
import type { QuantizedWeight } from '../weights';
import { addAll, byteSum, constant, Consumer, EmitContext, Emission, floatConstant, floatValue, nodeBase } from './common';

const ONNX_FLOAT = 1; // TensorProto.DataType.FLOAT, for Cast's `to`

/** Whether `c` has a dynamic int8 form. */
export function canUseDynamic(c: Consumer, weight: Value): boolean {
  const n = c.node;
  const rank = weight.const?.shape.length;
  if (n.domain !== '' || c.index !== 1 || weight.const?.dtype !== 'float32') return false;
  if (n.opType === 'MatMul') return rank === 2;
  if (n.opType === 'Conv') return rank !== undefined && rank >= 3 && ((n.inputs[2] ?? null) === null || n.inputs[2]?.const !== undefined);
  if (n.opType === 'Gemm') {
    if (rank !== 2 || n.attrInt('transA', 0) !== 0) return false;
    const bias = n.inputs[2] ?? null;
    return bias === null || n.attrFloat('beta', 1) === 1 || bias.const?.dtype === 'float32';
  }
  return false;
}

/** The layout the dynamic form needs: symmetric per-channel along the output axis (or per tensor). */
export function emitDynamic(ctx: EmitContext, weight: Value, qw: QuantizedWeight, consumers: Consumer[]): Emission {
  const shape = weight.const!.shape;
  const edits: Emission['edits'] = [];
  const constants: Value[] = [];
  const made = new Map<string, Value>();
  // One int8 weight per needed layout ([K, N] or the original), shared by all consumers of that layout.
  const weightFor = (transposed: boolean): Value => {
    const key = transposed ? 't' : 'n';
    let v = made.get(key);
    if (!v) {
      const data = transposed ? transpose2d(qw.values as Int8Array, shape[0], shape[1]) : (qw.values as Int8Array);
      const s = transposed ? [shape[1], shape[0]] : [...shape];
      v = constant(ctx, `${weight.name}_quantized`, 'int8', s, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      made.set(key, v);
      constants.push(v);
    }
    return v;
  };
  for (const c of consumers) {
    const n = c.node;
    const transposed = n.opType === 'Gemm' && n.attrInt('transB', 0) === 1;
    const wq = weightFor(transposed);
    const alpha = n.opType === 'Gemm' ? n.attrFloat('alpha', 1) : 1;
    const scaleShape = n.opType === 'Conv' ? [qw.scales.length, ...new Array<number>(shape.length - 2).fill(1)] : [qw.scales.length];
    const scaleData = alpha === 1 ? qw.scales : qw.scales.map((s) => Math.fround(s * alpha));
    const wScale = floatConstant(ctx, `${weight.name}_scale`, qw.layout.granularity === 'tensor' ? [] : scaleShape, scaleData);
    constants.push(wScale);
    const bias = biasFor(ctx, n, shape.length, constants);
    edits.push({ kind: 'replaceNode', node: n, with: rewrite(ctx, n, wq, wScale, bias) });
  }
  const obsolete = consumers.map((c) => c.node.inputs[2] ?? null).filter((v): v is Value => v?.const !== undefined);
  return {
    edits: [...addAll(constants), ...edits],
    obsolete,
    opsets: [{ domain: '', version: 11 }],
    bytesAfter: byteSum(constants),
    form: `dynamic int8 ${qw.layout.granularity === 'tensor' ? 'per-tensor' : 'per-channel'}`,
  };
}

/** The value to add after the rescale: Conv bias reshaped to [M, 1, …]; Gemm beta·C. */
function biasFor(ctx: EmitContext, n: Node, wRank: number, constants: Value[]): Value | null {
  const b = n.inputs[2] ?? null;
  if (!b) return null;
  if (n.opType === 'Conv') {
    const t = b.const;
    if (!t) return null; // Conv bias is always an initializer in practice; canUseDynamic leaves others alone
    const v = constant(ctx, `${b.name}_reshaped`, t.dtype, [t.size, ...new Array<number>(wRank - 2).fill(1)], t.bytes());
    constants.push(v);
    return v;
  }
  const beta = n.attrFloat('beta', 1);
  if (beta === 1) return b;
  const src = b.const!.toFloat32();
  const v = floatConstant(ctx, `${b.name}_beta`, [...b.const!.shape], src.map((x) => Math.fround(x * beta)));
  constants.push(v);
  return v;
}

function rewrite(ctx: EmitContext, n: Node, wq: Value, wScale: Value, bias: Value | null): NodeInit[] {
  const base = nodeBase(n);
  const out = n.outputs[0];
  const aq = new Value(ctx.names.fresh(`${base}_input_quantized`), { dtype: 'uint8' });
  const as = floatValue(ctx, `${base}_input_scale`, []);
  const azp = new Value(ctx.names.fresh(`${base}_input_zero_point`), { dtype: 'uint8', shape: [] });
  const acc = new Value(ctx.names.fresh(`${base}_int32_output`), { dtype: 'int32' });
  const accF = floatValue(ctx, `${base}_float_output`);
  const scale = floatValue(ctx, `${base}_output_scale`);
  const scaled = bias ? floatValue(ctx, `${base}_scaled_output`) : out;
  const isConv = n.opType === 'Conv';
  const integerOp: NodeInit = {
    opType: isConv ? 'ConvInteger' : 'MatMulInteger',
    name: ctx.names.fresh(`${base}_${isConv ? 'ConvInteger' : 'MatMulInteger'}`),
    inputs: [aq, wq, azp],
    outputs: [acc],
    // ConvInteger takes Conv's attributes unchanged (same names and meaning).
    attributes: isConv ? [...n.attributes.values()] : [],
  };
  const nodes: NodeInit[] = [
    { opType: 'DynamicQuantizeLinear', name: ctx.names.fresh(`${base}_DynamicQuantizeLinear`), inputs: [n.inputs[0]], outputs: [aq, as, azp] },
    integerOp,
    { opType: 'Cast', name: ctx.names.fresh(`${base}_Cast`), inputs: [acc], outputs: [accF], attributes: [intAttr('to', ONNX_FLOAT)] },
    { opType: 'Mul', name: ctx.names.fresh(`${base}_scales_Mul`), inputs: [as, wScale], outputs: [scale] },
    { opType: 'Mul', name: ctx.names.fresh(`${base}_output_Mul`), inputs: [accF, scale], outputs: [scaled] },
  ];
  if (bias) nodes.push({ opType: 'Add', name: ctx.names.fresh(`${base}_bias_Add`), inputs: [scaled, bias], outputs: [out] });
  return nodes;
}

function transpose2d(src: Int8Array, rows: number, cols: number): Int8Array {
  const out = new Int8Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}
