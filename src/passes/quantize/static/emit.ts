/**
 * Writes a QDQ plan into the graph (ONNX QuantizeLinear / DequantizeLinear,
 * onnx.ai/onnx/operators):
 *   activation t:  t → QuantizeLinear(t, s, zp) → t_q, then one
 *                  DequantizeLinear(t_q, s, zp) per consumer node (ORT's
 *                  selectors want a DQ that feeds only its own node unit);
 *                  tensors that share a scale share the s / zp initializers.
 *   weight:        int8 symmetric, per output channel (or per tensor) + DQ,
 *                  via the weight quantizer of the quantize pass.
 *   bias:          int32, scale s_x·s_w[c] and zero point 0 + DQ (axis 0),
 *                  the layout QLinearConv / QGemm read their int32 bias in:
 *                  q_b[c] = round(b[c] / (s_x·s_w[c])).
 * Called only once every number is known, so it cannot fail half-way.
 */
import { DType, Graph, intAttr, Node, Tensor, Value } from '../../../ir';
import { applyEdits, NameAllocator } from '../edits';
import { emitDequantizeLinear } from '../onnx/dequantize-linear';
import { intRange, roundHalfEven } from '../params';
import type { QuantizedTensorRow } from '../report';
import { sqnrForJson } from '../report';
import { quantizeWeight, WeightLayout } from '../weights';
import type { ComputeOp, QdqPlan } from './plan';

export interface ActivationParams {
  scale: number;
  zeroPoint: number;
}

export interface EmitOptions {
  activationType: 'int8' | 'uint8';
  perTensor: boolean;
}

export interface EmitResult {
  weights: QuantizedTensorRow[];
  /** Weight and bias initializers that may have lost their last reader. */
  replaced: Value[];
  warnings: string[];
}

const INT32_MAX = 2147483647;

export function emitQdq(graph: Graph, plan: QdqPlan, params: ReadonlyMap<Value, ActivationParams>, opts: EmitOptions, names: NameAllocator): EmitResult {
  const warnings: string[] = [];
  const weights: QuantizedTensorRow[] = [];
  const replaced: Value[] = [];
  // Weights first: they read the activation scales but do not move activations.
  for (const op of plan.ops) {
    if (!op.weight) continue;
    const row = emitWeight(graph, op, params, plan, opts, names, warnings);
    weights.push(row);
    replaced.push(op.weight.value);
    if (op.bias) replaced.push(op.bias.value);
  }
  const qparams = new Map<Value, { s: Value; zp: Value }>();
  const paramsOf = (src: Value): { s: Value; zp: Value } => {
    let p = qparams.get(src);
    if (!p) {
      const a = params.get(src)!;
      const s = scalar(names, `${src.name}_scale`, 'float32', new Float32Array([a.scale]));
      const zdata = opts.activationType === 'int8' ? new Int8Array([a.zeroPoint]) : new Uint8Array([a.zeroPoint]);
      const zp = scalar(names, `${src.name}_zero_point`, opts.activationType, zdata);
      graph.initializers.push(s, zp);
      p = { s, zp };
      qparams.set(src, p);
    }
    return p;
  };
  for (const [t, src] of plan.tensors) emitActivation(graph, t, paramsOf(src), opts.activationType, names);
  return { weights, replaced, warnings };
}

function scalar(names: NameAllocator, base: string, dtype: DType, data: Float32Array | Int8Array | Uint8Array): Value {
  const name = names.fresh(base);
  const t = Tensor.fromArray(dtype, [], data, name);
  return new Value(name, { dtype, shape: [], const: t });
}

function emitActivation(graph: Graph, t: Value, p: { s: Value; zp: Value }, dtype: DType, names: NameAllocator): void {
  // Readers inside If/Loop/Scan bodies (outer-scope references) keep reading the float value: the Q/DQ
  // pair is placed in this graph only, before the readers of this graph.
  const uses = t.uses.filter((u) => u.node.graph === graph);
  if (uses.length === 0 && !graph.outputs.includes(t)) return;
  const tq = new Value(names.fresh(`${t.name}_quantized`), { dtype, shape: t.shape ? [...t.shape] : undefined });
  const q = new Node({ opType: 'QuantizeLinear', name: names.fresh(`${t.name}_QuantizeLinear`), inputs: [t, p.s, p.zp], outputs: [tq] });
  const first = uses.map((u) => graph.nodes.indexOf(u.node)).filter((i) => i >= 0).sort((a, b) => a - b)[0];
  graph.addNode(q, first === undefined ? undefined : graph.nodes[first]);
  const dq = (out: Value): Node => new Node({ opType: 'DequantizeLinear', name: names.fresh(`${t.name}_DequantizeLinear`), inputs: [tq, p.s, p.zp], outputs: [out] });
  const byNode = new Map<Node, number[]>();
  for (const u of uses) byNode.set(u.node, [...(byNode.get(u.node) ?? []), u.index]);
  for (const [consumer, slots] of byNode) {
    const out = new Value(names.fresh(`${t.name}_dequantized`), { dtype: 'float32', shape: t.shape ? [...t.shape] : undefined });
    graph.addNode(dq(out), consumer);
    for (const slot of slots) consumer.setInput(slot, out);
  }
  // A graph output keeps its name on a final DQ, so the quantized producer's only reader is the Q.
  const at = graph.outputs.indexOf(t);
  if (at >= 0) {
    const name = t.name;
    t.name = names.fresh(`${name}_float`);
    const out = new Value(name, { dtype: 'float32', shape: t.shape ? [...t.shape] : undefined });
    out.docString = t.docString;
    graph.addNode(dq(out));
    graph.outputs[at] = out;
  }
}

function emitWeight(graph: Graph, op: ComputeOp, params: ReadonlyMap<Value, ActivationParams>, plan: QdqPlan, opts: EmitOptions, names: NameAllocator, warnings: string[]): QuantizedTensorRow {
  const w = op.weight!;
  const tensor = w.value.const!;
  const layout: WeightLayout = opts.perTensor ? { granularity: 'tensor' } : { granularity: 'channel', axis: w.outAxis };
  const qw = quantizeWeight(tensor.toFloat32(), tensor.shape, layout, intRange(8, true), w.value.name);
  const emission = emitDequantizeLinear({ names }, w.value, qw, [{ node: op.node, index: w.index, outAxis: w.outAxis }]);
  applyEdits(graph, emission.edits);
  let bytesAfter = emission.bytesAfter;
  if (op.bias) {
    const x = op.node.inputs[op.activations[0]];
    const src = x ? plan.tensors.get(x) : undefined;
    const a = src ? params.get(src) : undefined;
    // The activation input is always planned; the guard keeps the types honest.
    if (a) bytesAfter += emitBias(graph, op, a.scale, qw.scales, names, warnings);
  }
  const layoutLabel = qw.layout.granularity === 'tensor' ? 'per-tensor' : `axis=${w.outAxis}`;
  return {
    name: w.value.name, shape: [...tensor.shape], ops: [op.node.opType], granularity: qw.layout.granularity === 'tensor' ? 'tensor' : 'channel',
    bits: 8, form: `QDQ int8 ${layoutLabel}${op.bias ? ' + int32 bias' : ''}`, sqnrDb: sqnrForJson(qw.sqnrDb),
    bytesBefore: tensor.byteLength + (op.bias?.value.const?.byteLength ?? 0), bytesAfter, floatKept: false,
  };
}

function emitBias(graph: Graph, op: ComputeOp, sx: number, sw: Float32Array, names: NameAllocator, warnings: string[]): number {
  const b = op.bias!.value;
  const data = b.const!.toFloat32();
  const perChannel = sw.length > 1;
  const scales = new Float32Array(perChannel ? data.length : 1);
  const q = new Int32Array(data.length);
  let clipped = 0;
  for (let c = 0; c < data.length; c++) {
    const s = Math.fround(sx * sw[perChannel ? c : 0]);
    scales[perChannel ? c : 0] = s;
    let v = roundHalfEven(Math.fround(data[c] / s));
    if (v > INT32_MAX) { v = INT32_MAX; clipped++; } else if (v < -INT32_MAX) { v = -INT32_MAX; clipped++; }
    q[c] = v;
  }
  if (clipped) warnings.push(`${b.name}: ${clipped} bias value(s) exceed int32 at scale s_x·s_w and were clipped`);
  const qName = names.fresh(`${b.name}_quantized`);
  const sName = names.fresh(`${b.name}_scale`);
  const qv = new Value(qName, { dtype: 'int32', shape: [data.length], const: Tensor.fromArray('int32', [data.length], q, qName) });
  const sShape = perChannel ? [data.length] : [];
  const sv = new Value(sName, { dtype: 'float32', shape: sShape, const: Tensor.fromArray('float32', sShape, scales, sName) });
  const out = new Value(names.fresh(`${b.name}_dequantized`), { dtype: 'float32', shape: [data.length] });
  graph.initializers.push(qv, sv);
  const attrs = perChannel ? [intAttr('axis', 0)] : [];
  graph.addNode(new Node({ opType: 'DequantizeLinear', name: names.fresh(`${b.name}_DequantizeLinear`), inputs: [qv, sv], outputs: [out], attributes: attrs }), op.node);
  op.node.setInput(op.bias!.index, out);
  return qv.const!.byteLength + sv.const!.byteLength;
}
