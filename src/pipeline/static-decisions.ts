/**
 * Per-model decisions of static int8 that depend on how fast onnxruntime runs
 * each form on this machine, made by timing instead of by constants:
 *
 *  - small layers: a MatMul/Gemm whose Q/DQ and float bias Add cost more than
 *    its integer kernel saves stays float. Each candidate layer is cut out
 *    alone (input at the shape the calibration data gives it, its weight and
 *    bias) and timed in float and in the QDQ form the static pass emits;
 *    layers of one shape are timed once per run.
 *  - space-to-depth pooling (first-layer Conv → MaxPool(2×2)): the QDQ model
 *    is timed with and without the rewrite, on one calibration batch.
 *
 * Timings: onnxruntime with 1 intra-op thread, WARMUP runs, then the median of
 * RUNS (fewer for a layer slow enough to pass BUDGET_MS: see medianMs). Timings decide, so on a busy machine two runs can decide differently;
 * every decision is reported with its times and with the option value that
 * pins it (--small-layers ..., --space-to-depth on|off), which makes a run
 * reproducible byte for byte.
 */
import type { ActivationSink } from '../calibrate';
import { collectStatistics } from '../calibrate';
import type { Dataset } from '../data';
import { UsageError } from '../errors';
import { decodeOnnx, encodeOnnx } from '../formats/onnx';
import { Graph, Model, Node, Value } from '../ir';
import { runPass } from '../passes';
import {
  emitStaticQdq, findPoolingMatches, formsFor, planQdq, PlanOptions, resolveStaticOptions, rewriteGemmsForInt8, spaceToDepthPoolingPass,
  StaticDecisions, StaticQuantizeOptions, tensorsToCalibrate,
} from '../passes/quantize/static';
import { cpuLine, detectCpu, HostTensor, OrtRunner } from '../runtime';
import { mulberry32 } from '../util/prng';
import { VERSION } from '../version';

/** Untimed runs first (session warm-up, allocations), then timed runs; the median decides. */
export const WARMUP = 3;
export const RUNS = 15;
/** Timed runs kept at least, and the time (warm-up included) after which no more are started. */
export const MIN_RUNS = 3;
export const BUDGET_MS = 100;

export type SmallLayerDecision = StaticDecisions['smallLayers'];
export type SpaceToDepthDecision = StaticDecisions['spaceToDepth'];

/** The MatMul/Gemm nodes with a constant weight that static int8 would quantize (the graph as it is, BatchNormalization folded). */
export function smallLayerCandidates(model: Model, plan: PlanOptions): Node[] {
  return planQdq(model.graph, { ...plan, keepFloat: undefined }).ops.filter((o) => o.node.opType !== 'Conv' && o.weight).map((o) => o.node);
}

/**
 * Which candidate layers stay float, by opts.smallLayers: 'int8' none, a list of
 * node names exactly those, 'measure' those timed slower in int8 than in float.
 */
export async function decideSmallLayers(model: Model, opts: StaticQuantizeOptions, plan: PlanOptions, dataset: Dataset, batchSize: number,
  progress?: (m: string) => void): Promise<{ keepFloat: Map<Node, string>; decision: SmallLayerDecision }> {
  const candidates = smallLayerCandidates(model, plan);
  const keepFloat = new Map<Node, string>();
  const row = (n: Node, int8: boolean, shape = ''): SmallLayerDecision['layers'][number] => ({ node: n.name, opType: n.opType, shape, int8 });
  if (opts.smallLayers === 'int8') {
    return { keepFloat, decision: { how: 'int8', layers: candidates.map((n) => row(n, true)), pin: 'int8' } };
  }
  if (Array.isArray(opts.smallLayers)) {
    const names = new Set(candidates.map((n) => n.name));
    const unknown = opts.smallLayers.filter((s) => !names.has(s));
    if (unknown.length) {
      throw new UsageError(`--small-layers names ${unknown.map((u) => `'${u}'`).join(', ')}, not a MatMul/Gemm that static int8 would quantize (candidates: ${[...names].join(', ') || 'none'})`);
    }
    const pinned = new Set(opts.smallLayers);
    for (const n of candidates) if (pinned.has(n.name)) keepFloat.set(n, 'kept float: --small-layers names it');
    return { keepFloat, decision: { how: 'pinned', layers: candidates.map((n) => row(n, !pinned.has(n.name))), pin: pinOf(candidates, keepFloat) } };
  }
  if (!candidates.length) return { keepFloat, decision: { how: 'measured', layers: [], pin: 'int8' } };
  progress?.(`timing ${candidates.length} MatMul/Gemm layer(s) in float and int8`);
  const shapes = await inputShapes(model, candidates.map((n) => n.inputs[0]!.name), dataset, batchSize);
  const timed = new Map<string, { floatMs: number; int8Ms: number }>();
  const layers: SmallLayerDecision['layers'] = [];
  for (const n of candidates) {
    const shape = shapes.get(n.inputs[0]!.name);
    if (!shape) {
      layers.push(row(n, true));
      continue;
    }
    const key = layerKey(n, shape);
    let t = timed.get(key);
    if (!t) {
      t = await timeLayer(n, shape, opts);
      timed.set(key, t);
    }
    const int8 = t.int8Ms < t.floatMs;
    layers.push({ ...row(n, int8, shape.join('×')), floatMs: t.floatMs, int8Ms: t.int8Ms });
    if (!int8) {
      keepFloat.set(n, `small layer: int8 does not pay here (alone at input ${shape.join('×')}: ${fmt(t.int8Ms)} ms in QDQ int8 vs ${fmt(t.floatMs)} ms in float, median of up to ${RUNS} runs); left float`);
    }
  }
  return { keepFloat, decision: { how: 'measured', layers, pin: pinOf(candidates, keepFloat), cpu: cpuLine(detectCpu()) } };
}

function pinOf(candidates: Node[], keepFloat: ReadonlyMap<Node, string>): string {
  const names = candidates.filter((n) => keepFloat.has(n)).map((n) => n.name);
  return names.length ? names.join(',') : 'int8';
}

const fmt = (ms: number): string => ms.toPrecision(3);

/** The shape each tensor has on one calibration batch (a sink on a one-batch run). */
async function inputShapes(model: Model, tensors: string[], dataset: Dataset, batchSize: number): Promise<Map<string, number[]>> {
  const shapes = new Map<string, number[]>();
  const sink: ActivationSink = { tensors, observe: (name, _data, shape) => { if (!shapes.has(name)) shapes.set(name, [...shape]); } };
  await collectStatistics(model, [], dataset, { kinds: [], sinks: [sink], samples: batchSize, batchSize, threads: 1 });
  return shapes;
}

function layerKey(n: Node, shape: number[]): string {
  const w = n.inputs[1]!.const!;
  const b = n.inputs[2]?.const;
  // MatMul has no attributes, Gemm only scalars (alpha, beta, transA, transB).
  const attrs = [...n.attributes].map(([k, a]) => `${k}=${String(a.value)}`).sort().join(';');
  return `${n.opType}|${shape.join('x')}|${w.shape.join('x')}|${b ? b.shape.join('x') : '-'}|${attrs}`;
}

/** The layer alone: input X at `shape` → the node (its weight and bias) → Y, followed by Identity unless its output was a graph output. */
function layerModel(n: Node, shape: number[], outputIsGraphOutput: boolean): Model {
  const g = new Graph();
  g.name = 'layer';
  const x = new Value('X', { dtype: 'float32', shape });
  g.inputs.push(x);
  const inputs: (Value | null)[] = [x];
  for (let i = 1; i < n.inputs.length; i++) {
    const v = n.inputs[i];
    inputs.push(v?.const ? g.addInitializer(`c${i}`, v.const) : null);
  }
  const h = new Value('H', { dtype: 'float32' });
  g.addNode(new Node({ opType: n.opType, name: 'layer', inputs, outputs: [h], attributes: [...n.attributes.values()] }));
  let y = h;
  if (!outputIsGraphOutput) {
    y = new Value('Y', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'Identity', name: 'next', inputs: [h], outputs: [y] }));
  }
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

/** Median time of the layer alone in float and in the QDQ form the static pass emits for it. */
async function timeLayer(n: Node, shape: number[], opts: StaticQuantizeOptions): Promise<{ floatMs: number; int8Ms: number }> {
  const isOut = n.graph?.outputs.includes(n.outputs[0]) ?? false;
  const float = layerModel(n, shape, isOut);
  const quant = layerModel(n, shape, isOut);
  const lopts = resolveStaticOptions({ ...opts, exclude: [], opTypes: undefined, smallLayers: 'int8', spaceToDepthPooling: false });
  const gemms = rewriteGemmsForInt8(quant, { exclude: [] });
  const plan: PlanOptions = { exclude: [], originalOpType: gemms.originalOpType };
  // Timing does not depend on the ranges' values: every tensor gets [-4, 4].
  const ranges = new Map(tensorsToCalibrate(quant, plan).map((v) => [v.name, { min: -4, max: 4 }]));
  emitStaticQdq(quant, { options: lopts, plan, ranges, samples: 0 }, { toolVersion: VERSION });
  const feeds = new Map<string, HostTensor>([['X', { dtype: 'float32', shape, data: normalData(shape.reduce((a, b) => a * b, 1)) }]]);
  return { floatMs: await medianMs(encodeOnnx(float), feeds), int8Ms: await medianMs(encodeOnnx(quant), feeds) };
}

function normalData(count: number): Float32Array {
  const u = mulberry32(1);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/**
 * Median wall time of one run (ms), after WARMUP untimed runs; 1 onnxruntime thread. RUNS timed runs,
 * fewer (but at least MIN_RUNS) once they have taken BUDGET_MS: a large layer is timed a handful of
 * times (its runs vary less), so timing a transformer's MatMuls stays in seconds.
 */
export async function medianMs(bytes: Uint8Array, feeds: ReadonlyMap<string, HostTensor>): Promise<number> {
  const runner = await OrtRunner.create(bytes, { threads: 1, label: 'timing model' });
  try {
    const times: number[] = [];
    let spent = 0;
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const t0 = process.hrtime.bigint();
      await runner.run(feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      spent += ms;
      if (i >= WARMUP) times.push(ms);
      if (times.length >= MIN_RUNS && spent > BUDGET_MS) break;
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  } finally {
    await runner.dispose();
  }
}

/**
 * Whether to apply the space-to-depth pass to the QDQ model: never where the target's forms
 * leave it out or the option is off; always when the option is on; else where a timing of
 * this model with and without it, on `feeds` (one calibration batch), shows it pays.
 */
/** Whether this machine's int8 kernels are the target's (measured decisions are made for the machine that times them). */
export function hostIsTarget(target: StaticQuantizeOptions['target']): boolean {
  const path = detectCpu().int8;
  if (target === 'portable') return true;
  if (target === 'avx512-vnni') return path === 'avx512-vnni' || path === 'avx-vnni' || path === 'amx';
  return path === target;
}

export async function decideSpaceToDepth(model: Model, opts: StaticQuantizeOptions, feeds: () => Map<string, HostTensor>,
  progress?: (m: string) => void): Promise<SpaceToDepthDecision> {
  if (!formsFor(opts.target).spaceToDepth) return { how: 'target', applied: false, pin: 'off' };
  if (opts.spaceToDepthPooling === false) return { how: 'off', applied: false, pin: 'off' };
  if (opts.spaceToDepthPooling === true) return { how: 'pinned', applied: true, pin: 'on' };
  if (!findPoolingMatches(model.graph, model.opsetVersion('') ?? 0).matches.length) return { how: 'none', applied: false, pin: 'off' };
  progress?.('timing the space-to-depth rewrite');
  const plainBytes = encodeOnnx(model);
  const copy = decodeOnnx(plainBytes);
  runPass(spaceToDepthPoolingPass, copy, { toolVersion: VERSION });
  const f = feeds();
  const plainMs = await medianMs(plainBytes, f);
  const rewrittenMs = await medianMs(encodeOnnx(copy), f);
  const applied = rewrittenMs < plainMs;
  return { how: 'measured', plainMs, rewrittenMs, applied, pin: applied ? 'on' : 'off', cpu: cpuLine(detectCpu()) };
}
