/**
 * Static int8 quantization of an ONNX model in QDQ format:
 *   plan Q/DQ placement (plan.ts) → calibrate the planned activations on the
 *   user's data (src/calibrate) → scales and zero points → check the opset
 *   → rewrite (emit.ts) → record the settings in the model's metadata.
 * Everything that can refuse (options, data, opset) runs before the graph is
 * touched, so an error leaves the model as it was.
 */
import { calibrate, CalibrationResult, openCalibrationData, TensorRange } from '../../../calibrate';
import type { Dataset } from '../../../data';
import { UnsupportedError } from '../../../errors';
import type { Model, Value } from '../../../ir';
import { VERSION } from '../../../version';
import { NameAllocator, removeUnusedInitializers } from '../edits';
import { raiseOpset } from '../opset';
import { affineParams } from '../params';
import type { QuantizedTensorRow } from '../report';
import { ActivationParams, emitQdq } from './emit';
import { activationRange, resolveStaticOptions, StaticQuantizeOptions } from './options';
import { planQdq, SkippedNode } from './plan';
import { padConvsForInt8, paddingLines, prepareForStaticInt8 } from './prepare';
import { rewriteSpaceToDepthPooling, SpaceToDepthSkip } from './space-to-depth-pool';
import { formsFor } from './targets';

export interface ActivationRow {
  name: string;
  /** Calibrated range (before widening to include 0); absent for shared tensors. */
  min?: number;
  max?: number;
  scale: number;
  zeroPoint: number;
  /** The tensor whose scale and zero point this one reuses (scale-preserving ops). */
  sharedWith?: string;
}

export interface StaticQuantizeResult {
  modified: boolean;
  settings: Record<string, unknown>;
  calibration: { method: string; samples: number; batches: number; batchSize: number; seconds: number };
  activations: ActivationRow[];
  weights: QuantizedTensorRow[];
  /** Nodes that now run on int8 inputs (Conv, MatMul, Gemm, Add, ...). */
  quantizedNodes: { name: string; opType: string }[];
  /** Exact graph rewrites applied before quantizing (BatchNormalization folding, Gemm → MatMul, ...), one line each. */
  transformations: string[];
  /** Relu/Clip nodes absorbed by the following QuantizeLinear. */
  folded: string[];
  /** Conv → MaxPool(2×2) pairs that were not rewritten as SpaceToDepth → Conv → Split → Max, with the reason. */
  spaceToDepthSkipped: SpaceToDepthSkip[];
  skipped: SkippedNode[];
  warnings: string[];
  opsetBefore?: number;
  opsetAfter?: number;
}

export interface StaticContext {
  toolVersion?: string;
  progress?: (message: string) => void;
}

/** The settings written to `mc.quantization` and to the report. */
export function staticSettings(o: StaticQuantizeOptions, samples: number): Record<string, unknown> {
  const s: Record<string, unknown> = {
    bits: 8, mode: 'static', format: 'qdq', target: o.target, activationType: o.activationType, activationSymmetric: false,
    weightType: 'int8', weightSymmetric: true, granularity: o.perTensor ? 'tensor' : 'channel',
    calibration: { method: o.calibrationMethod, samples, ...(o.calibrationMethod === 'percentile' ? { percentile: o.percentile } : {}),
      ...(o.movingAverage !== undefined ? { movingAverage: o.movingAverage } : {}) },
  };
  if (o.exclude.length) s.exclude = [...o.exclude];
  if (o.opTypes) s.opTypes = [...o.opTypes];
  return s;
}

/** Quantizes `model` in place to static int8 QDQ, calibrating on `data` (a Dataset or a path openDataset reads). */
export async function quantizeStatic(model: Model, partial: Partial<StaticQuantizeOptions>, data: Dataset | string, ctx: StaticContext = {}): Promise<StaticQuantizeResult> {
  if (model.format !== 'onnx') throw new UnsupportedError('static quantization (--calib) needs an ONNX model: tfjs has no int8 kernels');
  const opts = resolveStaticOptions(partial);
  const { dataset } = openCalibrationData(model, data, opts.preprocess);
  const graph = model.graph;
  // Exact rewrites for ORT's integer kernels (BN folding, Gemm → MatMul, channel padding). They run after the
  // options and data are checked; should calibration still fail, the model is changed but computes the same.
  const prepared = prepareForStaticInt8(model, opts, ctx.toolVersion ?? VERSION);
  const planOptions = { ...opts, originalOpType: prepared.originalOpType };
  const calibPlan = planQdq(graph, planOptions);
  const observed = [...calibPlan.tensors].filter(([t, src]) => t === src).map(([t]) => t);
  const { qmin, qmax } = activationRange(opts.activationType);
  const warnings: string[] = [];
  let calib: CalibrationResult | undefined;
  if (observed.length) {
    ctx.progress?.(`calibrating ${observed.length} tensors (${opts.calibrationMethod})`);
    calib = await calibrate(model, observed.map((v) => v.name), dataset, {
      method: opts.calibrationMethod, percentile: opts.percentile, movingAverage: opts.movingAverage, samples: opts.samples,
      batchSize: opts.batchSize, qmin, qmax, threads: opts.threads, preprocess: opts.preprocess,
      progress: (done, total) => ctx.progress?.(`calibrating: ${done}/${total} samples`),
    });
    warnings.push(...calib.warnings);
  } else {
    warnings.push('nothing to quantize: no Conv, MatMul or Gemm with a float32 input');
  }
  // Channel padding comes after calibration (see padConvsForInt8); the plan is made again on the padded graph.
  const forms = formsFor(opts.target);
  const { padded: paddedConvs, sources } = padConvsForInt8(model, calibPlan, forms.pairSafeFirstLayers);
  const plan = paddedConvs.length ? planQdq(graph, planOptions) : calibPlan;
  const rangeOf = (t: Value): TensorRange | undefined => calib?.ranges.get((sources.get(t) ?? t).name);
  const params = new Map<Value, ActivationParams>();
  const activations: ActivationRow[] = [];
  for (const [t, src] of plan.tensors) {
    if (t !== src) continue;
    const r = rangeOf(t);
    if (!r && calib) { warnings.push(`${t.name}: no calibration data reached it; scale 1`); }
    params.set(t, affineParams(r?.min ?? 0, r?.max ?? 0, qmin, qmax));
  }
  for (const [t, src] of plan.tensors) {
    const p = params.get(src)!;
    const r = t === src ? rangeOf(t) : undefined;
    activations.push({ name: t.name, ...(r ? { min: r.min, max: r.max } : {}), scale: p.scale, zeroPoint: p.zeroPoint, ...(t !== src ? { sharedWith: src.name } : {}) });
  }
  const names = new NameAllocator(model);
  const opsetBefore = model.opsetVersion('');
  const modified = plan.tensors.size > 0 || plan.ops.length > 0;
  const samples = calib?.samples ?? 0;
  const settings = staticSettings(opts, samples);
  if (!modified) {
    const transformations = [...prepared.transformations, ...paddingLines(paddedConvs)];
    return { modified: transformations.length > 0, settings, calibration: calibSummary(calib, opts.calibrationMethod), activations, weights: [], quantizedNodes: [], transformations, folded: [], spaceToDepthSkipped: [], skipped: plan.skipped, warnings, opsetBefore, opsetAfter: opsetBefore };
  }
  // Per-axis DequantizeLinear needs opset 13; per-tensor QDQ exists since 10.
  raiseOpset(model, opts.perTensor ? 10 : 13, names, 'use --per-tensor (QDQ at opset 10)');
  const quantizedNodes = [...plan.ops.map((o) => o.node), ...plan.binary].map((n) => ({ name: n.name, opType: n.opType }));
  const emitted = emitQdq(graph, plan, params, { activationType: opts.activationType, perTensor: opts.perTensor }, names);
  warnings.push(...emitted.warnings);
  const transformations = [...prepared.transformations];
  let spaceToDepthSkipped: SpaceToDepthSkip[] = [];
  let padded = paddedConvs;
  if (opts.spaceToDepthPooling && forms.spaceToDepth) {
    const pooling = rewriteSpaceToDepthPooling(graph, model.opsetVersion('') ?? 0, names);
    spaceToDepthSkipped = pooling.skipped;
    const rewritten = new Set(pooling.applied.map((a) => a.conv));
    padded = padded.filter((p) => !rewritten.has(p.node));
    if (pooling.applied.length) {
      transformations.push(`rewrote Conv → MaxPool(2×2) as SpaceToDepth → Conv (4× channels at ¼ the pixels) → Split → Max on the integers, which onnxruntime runs faster for few input channels; outputs unchanged where int8 products add in int32 (VNNI, AMX, arm64; not AVX2): ${pooling.applied.map((a) => `${a.conv} (${a.inputChannels}→${a.outputChannels} as ${4 * a.inputChannels}→${4 * a.outputChannels})`).join(', ')}`);
      settings.spaceToDepth = true;
    }
    if (pooling.storedAsUint8) {
      transformations.push('stored activations as uint8 with zero point + 128 (the same values as int8): the Split → Max block is explicit integer ops, which onnxruntime cannot convert from int8 to uint8 the way it converts Q/DQ pairs on x86, and a Conv with mixed int8/uint8 activations would not be fused');
      settings.activationStorage = 'uint8';
    }
    emitted.replaced.push(...pooling.released);
    const renamed = new Map(pooling.applied.flatMap((a) => a.renamed));
    for (const row of activations) {
      row.name = renamed.get(row.name) ?? row.name;
      if (row.sharedWith) row.sharedWith = renamed.get(row.sharedWith) ?? row.sharedWith;
    }
  }
  transformations.splice(prepared.transformations.length, 0, ...paddingLines(padded));
  if (padded.some((p) => p.pairSafe)) settings.pairSafeConvs = padded.filter((p) => p.pairSafe).map((p) => p.node);
  removeUnusedInitializers(graph, emitted.replaced);
  for (const row of emitted.weights) row.floatKept = graph.initializers.some((v) => v.name === row.name);
  model.setMetadata('mc.version', ctx.toolVersion ?? VERSION);
  model.setMetadata('mc.quantization', JSON.stringify(settings));
  return {
    modified, settings, calibration: calibSummary(calib, opts.calibrationMethod), activations, weights: emitted.weights, quantizedNodes, transformations,
    folded: plan.folded.map((n) => n.name), spaceToDepthSkipped, skipped: plan.skipped, warnings, opsetBefore, opsetAfter: model.opsetVersion(''),
  };
}

function calibSummary(c: CalibrationResult | undefined, method: string): StaticQuantizeResult['calibration'] {
  return { method, samples: c?.samples ?? 0, batches: c?.batches ?? 0, batchSize: c?.batchSize ?? 0, seconds: c?.seconds ?? 0 };
}
