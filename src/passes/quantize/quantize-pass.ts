/**
 * The quantize pass: picks weight inputs with the op registry, quantizes each
 * weight once per needed layout, asks the emitter of the chosen output form
 * for edits, checks the opset those edits need, then applies everything.
 * Planning never mutates the model, so a refusal leaves it untouched.
 */
import { defaultOpRegistry, Graph, Model, OpRegistry, Tensor, Value } from '../../ir';
import { UnsupportedError } from '../../errors';
import type { Pass, PassContext, PassResult } from '../pass';
import { applyEdits, GraphEdit, NameAllocator, removeUnusedInitializers } from './edits';
import { MatMulNBitsWeight, toMatMulNBits } from './int4';
import { canUseDynamic, emitDynamic } from './onnx/dynamic';
import { emitDequantizeLinear } from './onnx/dequantize-linear';
import { canUseMatMulNBits, emitMatMulNBits } from './onnx/matmulnbits';
import type { Consumer, EmitContext, Emission } from './onnx/common';
import { raiseOpset } from './opset';
import { optionsFor, type QuantizeOptions } from './options';
import { intRange, IntRange, reducedInt8Range } from './params';
import { QuantizedTensorRow, QuantizeReport, SkippedTensor, sqnrForJson } from './report';
import { emitTfjs } from './tfjs';
import { QuantizedWeight, quantizeWeight, WeightLayout, weightLayout } from './weights';
import { coverageOf, selectWeights } from './select';
import { graphsOf } from '../../graph/constants';

type Form = 'dq' | 'dynamic' | 'matmulnbits';

interface Plan {
  graph: Graph;
  edits: GraphEdit[];
  weights: Value[];
  /** Other constants the edits may leave unread. */
  obsolete: Value[];
  rows: { row: QuantizedTensorRow; weight: Value }[];
}

/**
 * Where the pass gets a weight's levels and where it leaves the large tensors it builds.
 * The pass itself never touches disk or threads: src/pipeline/weight-stream.ts implements
 * these to quantize on worker threads and keep built tensors out of memory until written.
 */
export interface WeightHooks {
  /** quantizeWeight of the weight's float32 values; must give exactly its result. */
  quantize?(weight: Value, layout: WeightLayout, range: IntRange): QuantizedWeight;
  /** Each initializer the pass built for a weight, once built; may move its bytes out of memory (same bytes). */
  park?(tensor: Tensor): void;
  /** toMatMulNBits of a weight this quantize hook gave; must give exactly its result. */
  toMatMulNBits?(qw: QuantizedWeight, shape: readonly number[], kAxis: 0 | 1): MatMulNBitsWeight;
}

export function quantizePass(opts: QuantizeOptions, registry: OpRegistry = defaultOpRegistry, hooks: WeightHooks = {}): Pass<QuantizeReport> {
  return {
    name: 'quantize',
    run: (model, ctx) => runQuantize(model, ctx, opts, registry, hooks),
  };
}

/** The settings recorded in the report and in the model's `mc.quantization` metadata. */
export function quantizationSettings(opts: QuantizeOptions, format: Model['format']): Record<string, unknown> {
  const onnx = format === 'onnx';
  const s: Record<string, unknown> = { bits: opts.bits, mode: onnx ? opts.mode : 'weight' };
  if (onnx) {
    s.granularity = opts.granularity;
    if (opts.granularity === 'block') s.blockSize = opts.blockSize;
    s.symmetric = opts.mode === 'dynamic' ? true : opts.symmetric;
    if (opts.bits === 4) s.int4Format = opts.int4Format;
  } else {
    s.granularity = 'tensor';
    s.tfjsDtype = opts.tfjsDtype;
    if (opts.tfjsDtype === 'auto') s.minWeightSqnrDb = opts.minWeightSqnrDb;
  }
  if (onnx && opts.mode === 'dynamic') {
    s.target = opts.target;
    s.weightRange = opts.target === 'portable' || opts.target === 'avx2' ? '7-bit [-64, 64]' : 'int8 [-127, 127]';
  }
  s.minElements = opts.minElements;
  // weight reconstruction (issue 12), recorded only when asked so plain runs keep their bytes
  if (opts.method === 'gptq') Object.assign(s, { method: 'gptq', damp: opts.damp ?? 0.01, actOrder: opts.actOrder === true, gptqBlock: opts.gptqBlock ?? 128 });
  if (opts.clipSearch) s.clipSearch = true;
  if (opts.biasCorrection) s.biasCorrection = true;
  if (opts.exclude.length) s.exclude = [...opts.exclude];
  if (opts.opTypes) s.opTypes = [...opts.opTypes];
  return s;
}

function runQuantize(model: Model, ctx: PassContext, opts: QuantizeOptions, registry: OpRegistry, hooks: WeightHooks): PassResult<QuantizeReport> {
  const onnx = model.format === 'onnx';
  // Every setting a weight may get (the run's, and each override laid over it) goes through optionsFor.
  for (const o of [opts, ...[...(opts.overrides?.keys() ?? [])].map((name) => optionsFor(opts, name))]) {
    if (!onnx && o.mode === 'dynamic') throw new UnsupportedError('--mode dynamic needs an ONNX model (tfjs has no integer kernels); use --mode weight');
    if (onnx && o.mode === 'dynamic' && !o.symmetric) {
      throw new UnsupportedError('--mode dynamic uses symmetric int8 weights (onnxruntime\'s convention); drop --asymmetric');
    }
  }
  const settings = quantizationSettings(opts, model.format);
  const names = new NameAllocator(model);
  const skipped: SkippedTensor[] = [];
  const warnings: string[] = [];
  const plans = new Map<Graph, Plan>();
  for (const graph of graphsOf(model.graph)) plans.set(graph, { graph, edits: [], weights: [], obsolete: [], rows: [] });
  const opsets = new Map<string, number>();
  for (const [weight, { owner, consumers, via }] of selectWeights(model, registry, opts, skipped)) {
    const plan = plans.get(owner)!;
    ctx.progress?.(`quantizing ${weight.name}`);
    plan.weights.push(weight);
    if (onnx) {
      for (const e of planOnnxWeight(weight, consumers, optionsFor(opts, weight.name), { names }, opts.levels?.get(weight.name), warnings, hooks)) {
        for (const edit of e.emission.edits) if (edit.kind === 'addInitializer' && edit.value.const) hooks.park?.(edit.value.const);
        plan.edits.push(...e.emission.edits);
        plan.obsolete.push(...(e.emission.obsolete ?? []));
        for (const o of e.emission.opsets) opsets.set(o.domain, Math.max(opsets.get(o.domain) ?? 0, o.version));
        plan.rows.push({ row: via ? { ...e.row, ops: [via] } : e.row, weight });
      }
    } else {
      const t = emitTfjs(weight, opts);
      if (t.levelsNotUsed) warnings.push(`${weight.name}: computed levels not used (${t.levelsNotUsed}); quantized to nearest`);
      plan.edits.push(...t.edits);
      const bits = t.dtype === 'uint8' ? (t.levels === 16 ? 4 : 8) : 16;
      plan.rows.push({ weight, row: {
        name: weight.name, shape: [...weight.const!.shape], ops: opsOf(consumers), granularity: 'tensor', bits,
        form: `tfjs ${t.dtype}${t.levels === 16 ? ' (16 levels)' : ''}`, sqnrDb: sqnrForJson(t.sqnrDb),
        bytesBefore: weight.const!.byteLength, bytesAfter: t.bytesAfter, floatKept: false,
      } });
      const bound = optionsFor(opts, weight.name).minWeightSqnrDb;
      if (t.levels > 16 && t.sqnrDb < bound) warnings.push(`${weight.name}: weight SQNR ${t.sqnrDb.toFixed(1)} dB is below ${bound} dB`);
    }
  }
  const opsetBefore = onnx ? model.opsetVersion('') : undefined;
  if (onnx) {
    const need = opsets.get('') ?? 0;
    if (need > (opsetBefore ?? 1)) raiseOpset(model, need, names, opsetHint(opts));
    for (const [domain, version] of opsets) if (domain !== '') model.requireOpset(domain, version);
  }
  const tensors: QuantizedTensorRow[] = [];
  for (const p of plans.values()) {
    applyEdits(p.graph, p.edits);
    removeUnusedInitializers(p.graph, [...p.weights, ...p.obsolete]);
    for (const { row, weight } of p.rows) {
      row.floatKept = onnx && p.graph.initializers.includes(weight);
      tensors.push(row);
      // int4 weights measure ~20 dB by nature; the bound is an 8-bit expectation.
      const bound = optionsFor(opts, row.name).minWeightSqnrDb;
      if (onnx && row.bits === 8 && row.sqnrDb !== null && row.sqnrDb < bound) {
        warnings.push(`${row.name}: weight SQNR ${row.sqnrDb.toFixed(1)} dB is below ${bound} dB`);
      }
    }
  }
  const modified = tensors.length > 0;
  if (modified) stampMetadata(model, ctx, settings);
  return {
    modified,
    changes: {
      format: model.format, settings, tensors, skipped, warnings,
      weightBytesBefore: tensors.reduce((s, r) => s + r.bytesBefore, 0),
      weightBytesAfter: tensors.reduce((s, r) => s + r.bytesAfter, 0),
      opsetBefore, opsetAfter: onnx ? model.opsetVersion('') : undefined,
      coverage: coverageOf(tensors, skipped),
    },
  };
}

/**
 * The integer form each weight of the run gets, as planOnnxWeight will quantize it (one entry per
 * consumer group: layout and integer range), without changing the model. Quantization-aware
 * training (src/train/fake-quant.ts) fake-quantizes exactly these weights in exactly these forms.
 * ONNX only; `opts` as the pass receives them (backup overrides laid over the run).
 */
export function plannedWeightForms(model: Model, opts: QuantizeOptions, registry: OpRegistry = defaultOpRegistry): Map<Value, { layout: WeightLayout; range: IntRange }[]> {
  const out = new Map<Value, { layout: WeightLayout; range: IntRange }[]>();
  for (const [weight, { consumers }] of selectWeights(model, registry, opts, [])) {
    const o = optionsFor(opts, weight.name);
    const forms: { layout: WeightLayout; range: IntRange }[] = [];
    for (const c of consumers) {
      const form = formOf(c, weight, o);
      const layout = layoutOf(c, form, o, weight.const!.shape);
      const range = form === 'dynamic' ? dynamicWeightRange(o) : intRange(o.bits, o.symmetric);
      if (!forms.some((f) => JSON.stringify(f) === JSON.stringify({ layout, range }))) forms.push({ layout, range });
    }
    out.set(weight, forms);
  }
  return out;
}

/** Dynamic int8 weights: 7-bit where the target's u8×s8 kernel may saturate (portable, avx2), full int8 elsewhere. */
function dynamicWeightRange(opts: QuantizeOptions): IntRange {
  return opts.target === 'portable' || opts.target === 'avx2' ? reducedInt8Range() : intRange(8, true);
}

function opsetHint(opts: QuantizeOptions): string {
  return opts.bits === 4
    ? 'use --int4-format matmulnbits (MatMul/Gemm weights need no opset change) and --op-types MatMul,Gemm, or --bits 8'
    : 'use --granularity tensor (DequantizeLinear opset 10)';
}

function stampMetadata(model: Model, ctx: PassContext, settings: Record<string, unknown>): void {
  const json = JSON.stringify(settings);
  if (model.format === 'onnx') {
    model.setMetadata('mc.version', ctx.toolVersion);
    model.setMetadata('mc.quantization', json);
  } else {
    model.userMetadata = { ...(model.userMetadata ?? {}), 'mc.version': ctx.toolVersion, 'mc.quantization': settings };
  }
}

function opsOf(consumers: Consumer[]): string[] {
  return [...new Set(consumers.map((c) => c.node.opType))];
}

function formOf(c: Consumer, weight: Value, opts: QuantizeOptions): Form {
  // The op-replacing forms rewrite the consumer in place, which only the weight's own graph can do.
  if (c.anchor) return 'dq';
  if (opts.mode === 'dynamic') return canUseDynamic(c, weight) ? 'dynamic' : 'dq';
  if (opts.bits === 4 && opts.granularity === 'block' && opts.int4Format === 'matmulnbits' && canUseMatMulNBits(c, weight)) return 'matmulnbits';
  return 'dq';
}

function layoutOf(c: Consumer, form: Form, opts: QuantizeOptions, shape: readonly number[]): WeightLayout {
  if (form === 'matmulnbits') return { granularity: 'block', axis: c.inAxis!, blockSize: opts.blockSize };
  return weightLayout(shape, opts.granularity, opts.blockSize, c);
}

/** Groups the consumers of one weight by (form, layout), quantizes once per group, and emits. */
function planOnnxWeight(
  weight: Value, consumers: Consumer[], opts: QuantizeOptions, ctx: EmitContext, provided: QuantizedWeight | undefined, warnings: string[],
  hooks: WeightHooks,
): { emission: Emission; row: QuantizedTensorRow }[] {
  const groups = new Map<string, { form: Form; layout: WeightLayout; consumers: Consumer[] }>();
  for (const c of consumers) {
    const form = formOf(c, weight, opts);
    const layout = layoutOf(c, form, opts, weight.const!.shape);
    const key = `${form}:${JSON.stringify(layout)}`;
    const g = groups.get(key) ?? { form, layout, consumers: [] };
    g.consumers.push(c);
    groups.set(key, g);
  }
  const tensor = weight.const!;
  // Read (a lazy weight: from disk) only when quantized here, not when the hook quantizes it.
  let floats: Float32Array | undefined;
  const quantize = (layout: WeightLayout, range: IntRange): QuantizedWeight =>
    hooks.quantize?.(weight, layout, range) ?? quantizeWeight(floats ??= tensor.toFloat32(), shape, layout, range, weight.name);
  const shape = tensor.shape;
  const packed = (qw: QuantizedWeight, kAxis: 0 | 1): MatMulNBitsWeight =>
    (hooks.toMatMulNBits ? hooks.toMatMulNBits(qw, shape, kAxis) : toMatMulNBits(qw, shape, kAxis));
  const out: { emission: Emission; row: QuantizedTensorRow }[] = [];
  for (const g of groups.values()) {
    const range = g.form === 'dynamic' ? dynamicWeightRange(opts) : intRange(opts.bits, opts.symmetric);
    const fits = provided && g.form !== 'dynamic' ? providedFits(provided, g.layout, range, shape) : undefined;
    if (provided && fits !== true) warnings.push(`${weight.name}: computed levels not used (${fits ?? 'dynamic int8 form'}); quantized to nearest`);
    const qw = fits === true ? provided! : quantize(g.layout, range);
    const emission = g.form === 'matmulnbits'
      ? emitMatMulNBits(ctx, weight, packed(qw, g.layout.granularity === 'block' && g.layout.axis === 0 ? 0 : 1), g.consumers)
      : g.form === 'dynamic'
        ? emitDynamic(ctx, weight, qw, g.consumers)
        : emitDequantizeLinear(ctx, weight, qw, g.consumers);
    out.push({
      emission,
      row: {
        name: weight.name, shape: [...shape], ops: opsOf(g.consumers), granularity: g.layout.granularity,
        blockSize: g.layout.granularity === 'block' ? g.layout.blockSize : undefined,
        bits: g.form === 'dynamic' ? 8 : opts.bits, form: emission.form, sqnrDb: sqnrForJson(qw.sqnrDb),
        bytesBefore: tensor.byteLength, bytesAfter: emission.bytesAfter, floatKept: false,
      },
    });
  }
  return out;
}

/**
 * Whether levels computed outside the pass (options.levels) are in the form this
 * consumer group writes: same layout, same integer type, one level per element.
 * Otherwise the reason (e.g. the output check moved the weight to other bits).
 */
function providedFits(p: QuantizedWeight, layout: WeightLayout, range: IntRange, shape: readonly number[]): true | string {
  const same = p.layout.granularity === layout.granularity
    && (p.layout.granularity === 'tensor' || (p.layout as { axis: number }).axis === (layout as { axis: number }).axis)
    && (p.layout.granularity !== 'block' || p.layout.blockSize === (layout as { blockSize: number }).blockSize);
  if (!same) return `they are ${JSON.stringify(p.layout)}, the form written is ${JSON.stringify(layout)}`;
  if (p.values.length !== shape.reduce((a, b) => a * b, 1)) return `${p.values.length} levels for a weight of [${shape.join(', ')}]`;
  if (p.dtype !== range.dtype || p.symmetric !== (range.qmin === -range.qmax)) {
    return `they are ${p.dtype}${p.symmetric ? ' symmetric' : ''}, the form written is ${range.dtype} [${range.qmin}, ${range.qmax}]`;
  }
  return true;
}
