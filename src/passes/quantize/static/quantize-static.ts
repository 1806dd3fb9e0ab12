/**
 * Static int8 quantization of an ONNX model in QDQ format, given the ranges:
 *   plan Q/DQ placement (plan.ts) → pad Conv channels → scales and zero points
 *   from the calibrated ranges → check the opset → rewrite (emit.ts) → record
 *   the settings in the model's metadata.
 * A pure pass: it never runs the model or reads data. The calibration run that
 * produces the ranges, the exact rewrites before it (prepare.ts) and the
 * optional space-to-depth rewrite after it are the pipeline's steps
 * (src/pipeline/static.ts).
 */
import type { Model, Node, Value } from '../../../ir';
import { VERSION } from '../../../version';
import type { Pass, PassContext, PassResult } from '../../pass';
import { NameAllocator, removeUnusedInitializers } from '../edits';
import { raiseOpset } from '../opset';
import { affineParams } from '../params';
import type { QuantizedTensorRow } from '../report';
import { ActivationParams, emitQdq } from './emit';
import { activationRange, StaticQuantizeOptions } from './options';
import type { ChannelPadding } from './pad-channels';
import { planQdq, PlanOptions, SkippedNode } from './plan';
import { padConvsForInt8 } from './prepare';
import type { SpaceToDepthSkip } from './space-to-depth-pool';
import { formsFor } from './targets';

/** A calibrated range (src/calibrate's TensorRange): min ≤ 0 ≤ max is not required (the quantizer widens it). */
export interface ActivationRange {
  min: number;
  max: number;
}

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
  calibration: {
    method: string; samples: number; batches: number; batchSize: number; seconds: number;
    /** --calib-cache: whether the statistics were read from the file or computed and written to it, and why. */
    cache?: { file: string; action: 'read' | 'written'; reason?: string };
  };
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
  /** The per-model decisions (small layers, space-to-depth): how each was made, and the times measured. */
  decisions?: StaticDecisions;
}

/** What the pipeline decided for this model, and on what grounds (src/pipeline/static-decisions.ts). */
export interface StaticDecisions {
  smallLayers: {
    /** 'measured': timed here; 'pinned': the option named the layers; 'int8': the option said none stay float. */
    how: 'measured' | 'pinned' | 'int8';
    layers: { node: string; opType: string; shape: string; floatMs?: number; int8Ms?: number; int8: boolean }[];
    /** The option value that reproduces this decision (`--small-layers ...`). */
    pin: string;
    /** The CPU the times were taken on (measured decisions are this machine's). */
    cpu?: string;
  };
  spaceToDepth: {
    how: 'measured' | 'pinned' | 'off' | 'target' | 'none';
    plainMs?: number;
    rewrittenMs?: number;
    applied: boolean;
    pin: string;
    cpu?: string;
  };
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

/** What the QDQ pass is handed. */
export interface StaticQdqInput {
  /** Resolved options (resolveStaticOptions). */
  options: StaticQuantizeOptions;
  /** The plan's options as calibration planned them (originalOpType, keepFloat): the pass plans the same tensors. */
  plan: PlanOptions;
  /** Calibrated range per tensor name; undefined when nothing was calibrated (nothing to quantize). */
  ranges: ReadonlyMap<string, ActivationRange> | undefined;
  /** Samples the ranges come from (recorded in the settings). */
  samples: number;
}

/** What the QDQ pass did; the pipeline adds calibration, the prepare steps' lines and the optional rewrites. */
export type StaticQdqReport = Omit<StaticQuantizeResult, 'calibration' | 'transformations' | 'spaceToDepthSkipped' | 'decisions'> & {
  /** Conv input channels padded for onnxruntime's int8 conv kernel (paddingLines gives the report lines). */
  padded: ChannelPadding[];
};

/** The tensors whose ranges the pass will need: planned on the graph as it is now (call after prepare, before the pass). */
export function tensorsToCalibrate(model: Model, plan: PlanOptions): Value[] {
  return [...planQdq(model.graph, plan).tensors].filter(([t, src]) => t === src).map(([t]) => t);
}

export function staticQdqPass(input: StaticQdqInput): Pass<StaticQdqReport> {
  return { name: 'quantize-static-qdq', run: (model, ctx) => emitStaticQdq(model, input, ctx) };
}

/** Quantizes `model` in place to static int8 QDQ with the given ranges. */
export function emitStaticQdq(model: Model, input: StaticQdqInput, ctx: Partial<PassContext> = {}): PassResult<StaticQdqReport> {
  const opts = input.options;
  const graph = model.graph;
  const calibPlan = planQdq(graph, input.plan);
  const { qmin, qmax } = activationRange(opts.activationType);
  const warnings: string[] = [];
  // Channel padding comes after calibration (see padConvsForInt8); the plan is made again on the padded graph.
  const forms = formsFor(opts.target);
  const { padded, sources } = padConvsForInt8(model, calibPlan, forms.pairSafeFirstLayers);
  const plan = padded.length ? planQdq(graph, input.plan) : calibPlan;
  const rangeOf = (t: Value): ActivationRange | undefined => input.ranges?.get((sources.get(t) ?? t).name);
  const params = new Map<Value, ActivationParams>();
  const activations: ActivationRow[] = [];
  for (const [t, src] of plan.tensors) {
    if (t !== src) continue;
    const r = rangeOf(t);
    if (!r && input.ranges) { warnings.push(`${t.name}: no calibration data reached it; scale 1`); }
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
  const settings = staticSettings(opts, input.samples);
  if (!modified) {
    const changes: StaticQdqReport = { modified: padded.length > 0, settings, activations, weights: [], quantizedNodes: [], padded, folded: [], skipped: plan.skipped, warnings, opsetBefore, opsetAfter: opsetBefore };
    return { modified: changes.modified, changes };
  }
  // Per-axis DequantizeLinear needs opset 13; per-tensor QDQ exists since 10.
  raiseOpset(model, opts.perTensor ? 10 : 13, names, 'use --per-tensor (QDQ at opset 10)');
  const quantizedNodes = [...plan.ops.map((o) => o.node), ...plan.binary].map((n: Node) => ({ name: n.name, opType: n.opType }));
  const emitted = emitQdq(graph, plan, params, { activationType: opts.activationType, perTensor: opts.perTensor }, names);
  warnings.push(...emitted.warnings);
  if (padded.some((p) => p.pairSafe)) settings.pairSafeConvs = padded.filter((p) => p.pairSafe).map((p) => p.node);
  removeUnusedInitializers(graph, emitted.replaced);
  for (const row of emitted.weights) row.floatKept = graph.initializers.some((v) => v.name === row.name);
  model.setMetadata('mc.version', ctx.toolVersion ?? VERSION);
  model.setMetadata('mc.quantization', JSON.stringify(settings));
  const changes: StaticQdqReport = {
    modified, settings, activations, weights: emitted.weights, quantizedNodes, padded,
    folded: plan.folded.map((n) => n.name), skipped: plan.skipped, warnings, opsetBefore, opsetAfter: model.opsetVersion(''),
  };
  return { modified, changes };
}
