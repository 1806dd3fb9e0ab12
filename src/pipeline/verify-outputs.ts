/**
 * The output check of weight quantization: every weight can pass its own
 * bound (tfjs `auto` keeps each tensor ≥ 30 dB) while the model's outputs do
 * not, because the errors of many layers add up and compound (tfjs #1602).
 * So the quantized model is run in the stock runtime (tfjs for tfjs models,
 * onnxruntime for ONNX) next to the float one, on --eval-data or on a few
 * seeded synthetic inputs, and where an output misses the bound the most
 * damaging weights are backed off to a wider form until it holds.
 *
 * Back-off ladders (one rung at a time, a weight may climb several):
 *   tfjs: uint8 → the better of uint16 and float16 (by weight SQNR);
 *   ONNX: int4 tensor → channel → block → int8 channel → int8 block → float,
 *         starting after the run's own form (int8 per-channel → int8 block → float).
 *
 * Ranking (measured, not guessed): for each quantized weight, the model is
 * run with that weight alone quantized, which gives its output noise per
 * output. BackoffPlan (backoff-plan.ts) orders the moves by the noise they
 * remove and predicts, with a first-order model re-fitted on every
 * measurement, how many moves the bound needs; that prefix is measured, and
 * the prefix grows (by at least one move) until the measured outputs meet the
 * bound, then is bisected down while they still do. Every decision rests on a run in the stock runtime, and the last run
 * is of the model that is written. Cost: one run per quantized weight plus a
 * few; the ranking runs only when the first check fails.
 */
import { minimatch } from 'minimatch';
import { McError } from '../errors';
import { float32ToFloat16Bytes, type Dim, type Model } from '../ir';
import { quantizePass, runPass, type QuantizeOptions, type QuantizeReport } from '../passes';
import type { Granularity, QuantBits, WeightOverride } from '../passes/quantize/options';
import { openDataset, validateAgainst } from '../data';
import { numbersOf, argmaxRow } from '../eval/tensor-view';
import type { HostTensor, ModelRunner, TensorInfo } from '../runtime/runner';
import { openRunner } from '../runtime';
import { mulberry32 } from '../util/prng';
import { VERSION } from '../version';
import { BackoffPlan } from './backoff-plan';

export interface OutputCheckOptions {
  /** Every output's SQNR against the float model must reach this (dB); undefined: measure and report only. */
  minOutputSqnrDb?: number;
  /** Top-1 agreement (0..1) that classifier outputs ([N, C], C ≥ 2) must reach. */
  minAgreement?: number;
  /** Inputs to check on (.npy, .npz, image folder, ONNX test data); synthetic inputs when absent. */
  data?: string;
  /** Samples to run (default 4). */
  samples?: number;
  /** Seed of the synthetic inputs (default 1). */
  seed?: number;
  /** The user asked for the check (--min-output-sqnr): if it cannot run, fail instead of warning. */
  required?: boolean;
}

export interface OutputFidelity {
  name: string;
  /** Output SQNR in dB over all samples; null when identical. */
  sqnrDb: number | null;
  /** Top-1 agreement over rows, for outputs [N, C] with C ≥ 2. */
  agreement?: number;
}

export interface BackedOffWeight {
  name: string;
  from: string;
  to: string;
  /** Worst output SQNR with this weight alone quantized in its first form (null: no effect measured). */
  aloneSqnrDb: number | null;
  reason: string;
}

export interface OutputCheckReport {
  runtime: string;
  inputs: { source: 'data' | 'synthetic'; description: string; samples: number };
  bound: { minOutputSqnrDb?: number; minAgreement?: number };
  /** Outputs with every weight in the run's own form. */
  before: OutputFidelity[];
  /** Outputs of the model that is written. */
  after: OutputFidelity[];
  backedOff: BackedOffWeight[];
  /** Quantized models run (including the first and the last). */
  trials: number;
  passed: boolean;
  seconds: number;
  notes: string[];
  /** Set when the outputs could not be checked (synthetic inputs the model cannot run): why. Nothing was backed off. */
  unchecked?: string;
}

function uncheckedReport(runtime: string, check: OutputCheckOptions, why: string, started: number): OutputCheckReport {
  return {
    runtime, inputs: { source: 'synthetic', description: 'none', samples: 0 },
    bound: { minOutputSqnrDb: check.minOutputSqnrDb, minAgreement: check.minAgreement },
    before: [], after: [], backedOff: [], trials: 0, passed: false, seconds: (Date.now() - started) / 1000, notes: [], unchecked: why,
  };
}

/** The outputs cannot reach the bound even with every weight backed off as far as the format allows. */
export class OutputBoundError extends McError {
  override readonly exitCode = 1;
  constructor(message: string, readonly report: OutputCheckReport) {
    super(message);
  }
}

/** The outputs of a converted model against its source (float16 conversion's check). */
export interface OutputComparison {
  runtime: string;
  inputs: { source: 'data' | 'synthetic'; description: string; samples: number };
  rows: OutputFidelity[];
  /** Set when the comparison could not run (synthetic inputs the source model fails on), with why. */
  unchecked?: string;
}

/**
 * Runs `source` and `candidate` in the stock runtime on --eval-data or seeded synthetic inputs and
 * compares every output (SQNR, NaN in the candidate counts as an infinite error). The two must take
 * the same inputs (float16 conversion with --keep-io-types).
 */
export async function compareOutputs(source: Model, candidate: Model, o: { data?: string; samples?: number; seed?: number } = {}): Promise<OutputComparison> {
  const samples = o.samples ?? 4;
  const { inputs: specs, outputs: names, runtime } = await probe(source);
  const inputs = o.data !== undefined ? dataInputs(o.data, specs, samples) : syntheticInputs(specs, samples, o.seed ?? 1);
  const described = { source: inputs.source, description: inputs.description, samples: inputs.samples };
  let ref: Outputs;
  try {
    ref = await runAll(source, inputs, names);
  } catch (e) {
    if (inputs.source === 'data' || e instanceof McError) throw e;
    return { runtime, inputs: described, rows: [], unchecked: `the source model fails in ${runtime} on ${inputs.description}: ${(e as Error).message.split('\n')[0]}; pass --eval-data with real inputs to check it` };
  }
  return { runtime, inputs: described, rows: compare(ref, await runAll(candidate, inputs, names), new Map()).rows };
}

/** A rung of a back-off ladder: the form a weight takes, or float. */
type Rung = { kind: 'float' } | { kind: 'onnx'; bits: QuantBits; granularity: Granularity } | { kind: 'tfjs-wide' };

function rungLabel(r: Rung): string {
  if (r.kind === 'float') return 'float';
  if (r.kind === 'tfjs-wide') return 'uint16/float16';
  return `int${r.bits} ${r.granularity}`;
}

/** The rungs above the run's own form (see the module comment). */
export function ladderAfter(format: Model['format'], opts: QuantizeOptions): Rung[] {
  if (format !== 'onnx') return opts.tfjsDtype === 'uint16' || opts.tfjsDtype === 'float16' ? [] : [{ kind: 'tfjs-wide' }];
  const order: Granularity[] = ['tensor', 'channel', 'block'];
  const all: Rung[] = [
    ...order.map((g): Rung => ({ kind: 'onnx', bits: 4, granularity: g })),
    { kind: 'onnx', bits: 8, granularity: 'channel' },
    { kind: 'onnx', bits: 8, granularity: 'block' },
    { kind: 'float' },
  ];
  const here = all.findIndex((r) => r.kind === 'onnx' && r.bits === opts.bits && r.granularity === opts.granularity);
  if (here >= 0) return all.slice(here + 1);
  // int8 per tensor: every int8 rung above it.
  return all.slice(3);
}

/** Outputs of one run over the check's inputs: per output, the values of every sample, concatenated. */
type Outputs = Map<string, Float64Array>;

interface Inputs {
  feeds: Map<string, HostTensor>[];
  source: 'data' | 'synthetic';
  description: string;
  samples: number;
}

/** A model in memory run by the stock runtime of its format (encoded in memory; nothing is written). */
async function openInMemory(model: Model): Promise<{ runner: ModelRunner; close: () => Promise<void> }> {
  const runner = await openRunner(model, { label: 'quantized model' });
  return { runner, close: () => runner.dispose() };
}

async function runAll(model: Model, inputs: Inputs, names: readonly string[]): Promise<Outputs> {
  const { runner, close } = await openInMemory(model);
  try {
    const parts = new Map<string, Float64Array[]>(names.map((n) => [n, []]));
    for (const feed of inputs.feeds) {
      const out = await runner.run(feed, names);
      for (const n of names) parts.get(n)!.push(Float64Array.from(numbersOf(out.get(n)!)));
    }
    const joined: Outputs = new Map();
    for (const [n, list] of parts) {
      const len = list.reduce((s, a) => s + a.length, 0);
      const all = new Float64Array(len);
      let at = 0;
      for (const a of list) { all.set(a, at); at += a.length; }
      joined.set(n, all);
    }
    return joined;
  } finally {
    await close();
  }
}

/** What the runtime says about a model: its inputs, its outputs and itself. */
async function probe(model: Model): Promise<{ inputs: readonly TensorInfo[]; outputs: string[]; runtime: string }> {
  const { runner, close } = await openInMemory(model);
  try {
    return {
      inputs: runner.inputs,
      outputs: runner.outputs.map((o) => o.name),
      runtime: runner.runtime === 'tfjs' ? `tfjs (${runner.backend})` : runner.runtime,
    };
  } finally {
    await close();
  }
}

/** Outputs [N, C] with C ≥ 2 are scores of classes: their top-1 agreement is measured. */
async function classWidths(model: Model, inputs: Inputs, names: readonly string[]): Promise<Map<string, number>> {
  const { runner, close } = await openInMemory(model);
  try {
    const first = await runner.run(inputs.feeds[0], names);
    const widths = new Map<string, number>();
    for (const n of names) {
      const s = first.get(n)!.shape;
      if (s.length === 2 && s[1] >= 2) widths.set(n, s[1]);
    }
    return widths;
  } finally {
    await close();
  }
}

const isChannels = (d: Dim | undefined): boolean => d === 1 || d === 3 || d === 4;

/** An image input: rank 4 with 1, 3 or 4 channels on axis 3 (NHWC) or 1 (NCHW). */
function imageLayout(dims: readonly Dim[]): 'NHWC' | 'NCHW' | undefined {
  if (dims.length !== 4) return undefined;
  return isChannels(dims[3]) ? 'NHWC' : isChannels(dims[1]) ? 'NCHW' : undefined;
}

/**
 * A symbolic dim after the first of a non-image input is a length (audio samples, frames,
 * sequence positions): 1 would be too short for the convolutions and reflect pads that
 * read it (Silero VAD, openWakeWord's melspectrogram), so it takes this many.
 */
const SYNTHETIC_LENGTH = 1024;

/**
 * Concrete dims for a declared shape: the first symbolic dim is the batch and takes 1;
 * symbolic image height and width take 224; any later symbolic dim SYNTHETIC_LENGTH.
 */
function concreteShape(dims: readonly Dim[]): number[] {
  const layout = imageLayout(dims);
  const spatial = layout === 'NHWC' ? [1, 2] : layout === 'NCHW' ? [2, 3] : [];
  const batch = dims.findIndex((d) => !(typeof d === 'number' && d > 0));
  return dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : spatial.includes(i) ? 224 : i === batch ? 1 : SYNTHETIC_LENGTH));
}

/**
 * Seeded synthetic inputs: float inputs uniform in [0, 1) (the range image
 * models most often take after scaling); integer inputs shaped like an image
 * take pixel values 0..255, other integer inputs 0 (valid ids and indices).
 * Symbolic dims: see concreteShape.
 */
export function syntheticInputs(specs: readonly TensorInfo[], samples: number, seed: number): Inputs {
  const rand = mulberry32(seed);
  const feeds: Map<string, HostTensor>[] = [];
  const kinds: string[] = [];
  for (let k = 0; k < samples; k++) {
    const feed = new Map<string, HostTensor>();
    for (const s of specs) {
      const shape = concreteShape(s.shape ?? []);
      const n = shape.reduce((a, b) => a * b, 1);
      const dtype = s.dtype ?? 'float32';
      let t: HostTensor;
      if (dtype === 'float32' || dtype === 'float16') {
        const data = Float32Array.from({ length: n }, () => rand());
        t = dtype === 'float32' ? { dtype, shape, data } : { dtype, shape, data: new Uint16Array(float32ToFloat16Bytes(data).buffer) };
        if (k === 0) kinds.push(`${s.name}: uniform [0, 1)`);
      } else if (dtype === 'int32' || dtype === 'int64') {
        const image = imageLayout(shape) !== undefined;
        const vals = Int32Array.from({ length: n }, () => (image ? Math.floor(rand() * 256) : 0));
        t = dtype === 'int32' ? { dtype, shape, data: vals } : { dtype, shape, data: BigInt64Array.from(vals, (v) => BigInt(v)) };
        if (k === 0) kinds.push(`${s.name}: ${image ? 'pixels 0..255' : 'zeros'}`);
      } else if (dtype === 'bool' || dtype === 'uint8') {
        t = { dtype, shape, data: new Uint8Array(n) };
        if (k === 0) kinds.push(`${s.name}: zeros`);
      } else {
        throw new OutputCheckUnavailable(`cannot make synthetic values for input '${s.name}' of type ${dtype}`);
      }
      feed.set(s.name, t);
    }
    feeds.push(feed);
  }
  return { feeds, source: 'synthetic', samples, description: `${samples} seeded synthetic sample(s) (seed ${seed}; ${kinds.join(', ')})` };
}

/** The check cannot run on this model: an input it cannot synthesize, or synthetic inputs the model fails on. */
export class OutputCheckUnavailable extends McError {
  override readonly exitCode = 2;
}

function dataInputs(file: string, inputs: readonly TensorInfo[], samples: number): Inputs {
  const specs = inputs.map((i) => ({ name: i.name, dtype: i.dtype ?? 'float32', shape: i.shape ?? [] }));
  const dataset = openDataset(file, { inputs: specs });
  const v = validateAgainst(dataset, specs);
  const batch = v.fixedBatch ?? 1;
  const feeds: Map<string, HostTensor>[] = [];
  let count = 0;
  for (const b of dataset.batches(batch, samples)) {
    const feed = new Map<string, HostTensor>();
    for (const [name, t] of b.inputs) feed.set(name, { dtype: t.dtype, shape: [...t.shape], data: t.data });
    feeds.push(feed);
    count += b.count;
  }
  return { feeds, source: 'data', samples: count, description: `${count} sample(s) of ${file}` };
}

interface Fidelity {
  rows: OutputFidelity[];
  /** Per output: Σ ref², Σ err². */
  energy: Map<string, { signal: number; noise: number }>;
}

function compare(ref: Outputs, got: Outputs, classWidth: ReadonlyMap<string, number>): Fidelity {
  const rows: OutputFidelity[] = [];
  const energy = new Map<string, { signal: number; noise: number }>();
  for (const [name, r] of ref) {
    const g = got.get(name)!;
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < r.length; i++) {
      const e = r[i] - g[i];
      signal += r[i] * r[i];
      noise += e * e;
    }
    // NaN in the candidate is an infinite error, never a pass.
    if (Number.isNaN(noise)) noise = Infinity;
    energy.set(name, { signal, noise });
    const row: OutputFidelity = { name, sqnrDb: noise === 0 ? null : 10 * Math.log10(signal / noise) };
    const w = classWidth.get(name);
    if (w !== undefined) {
      let agree = 0;
      const rows_ = r.length / w;
      for (let i = 0; i < rows_; i++) if (argmaxRow(r, i, w) === argmaxRow(g, i, w)) agree++;
      row.agreement = rows_ ? agree / rows_ : 1;
    }
    rows.push(row);
  }
  return { rows, energy };
}

function meets(f: Fidelity, check: OutputCheckOptions, bounded: ReadonlySet<string>): boolean {
  for (const row of f.rows) {
    if (!bounded.has(row.name)) continue;
    if (check.minOutputSqnrDb !== undefined && row.sqnrDb !== null && !(row.sqnrDb >= check.minOutputSqnrDb)) return false;
    if (check.minAgreement !== undefined && row.agreement !== undefined && row.agreement < check.minAgreement) return false;
  }
  return true;
}

function worst(rows: readonly OutputFidelity[]): number | null {
  let w: number | null = null;
  for (const r of rows) if (r.sqnrDb !== null && (w === null || r.sqnrDb < w)) w = r.sqnrDb;
  return w;
}

/** Escapes a weight name so `exclude` (minimatch globs) matches exactly that name. */
function exactGlob(name: string): string {
  return minimatch.escape(name);
}

/** Weight SQNR (dB) per quantized weight from a report (the lowest of its rows); Infinity when exact. */
function weightSqnr(report: QuantizeReport): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of report.tensors) {
    const s = r.sqnrDb === null ? Infinity : r.sqnrDb;
    out.set(r.name, Math.min(out.get(r.name) ?? Infinity, s));
  }
  return out;
}

function formOf(report: QuantizeReport, name: string): string {
  return [...new Set(report.tensors.filter((r) => r.name === name).map((r) => r.form))].join(' + ');
}

export interface FitResult {
  /** The options to quantize with: the run's, plus the back-off's overrides and exclusions. */
  options: QuantizeOptions;
  report: OutputCheckReport;
}

/**
 * Quantizes clones of `float` (the model as the caller is about to quantize
 * it: loaded and prepared; Model.clone shares its weights copy-on-write and
 * `float` itself is never changed) with `opts`, measures the
 * outputs, and backs weights off until `check` holds. Returns the options
 * that met it (the caller quantizes its own copy with them) and the report;
 * throws OutputBoundError (exit 1) when even the last rung of every weight
 * misses the bound. Nothing is written.
 */
export async function fitQuantizationToOutputs(
  source: Model | (() => Model), opts: QuantizeOptions, check: OutputCheckOptions, progress: (message: string) => void = () => {},
): Promise<FitResult> {
  const started = Date.now();
  // A loader (the former interface, kept while callers move) gives a fresh copy per call.
  const float = typeof source === 'function' ? source() : source;
  const load = typeof source === 'function' ? source : (): Model => source.clone();
  const samples = check.samples ?? 4;
  progress('output check: preparing inputs');
  const { inputs: specs, outputs: names, runtime } = await probe(float);
  let inputs: Inputs;
  let classWidth: Map<string, number>;
  let ref: Outputs;
  try {
    inputs = check.data !== undefined ? dataInputs(check.data, specs, samples) : syntheticInputs(specs, samples, check.seed ?? 1);
    try {
      classWidth = await classWidths(float, inputs, names);
      ref = await runAll(float, inputs, names);
    } catch (e) {
      if (inputs.source === 'data' || e instanceof McError) throw e;
      throw new OutputCheckUnavailable(`the float model fails in ${runtime} on ${inputs.description}: ${(e as Error).message.split('\n')[0]}`);
    }
  } catch (e) {
    // Synthetic inputs that do not suit the model (an audio input of symbolic length, a sample rate of 0):
    // by default say loudly that the outputs were not checked; a check the user asked for fails.
    if (!(e instanceof OutputCheckUnavailable) || check.required === true || check.data !== undefined) throw e;
    return { options: opts, report: uncheckedReport(runtime, check, `${e.message}; pass --eval-data with real inputs to check them`, started) };
  }
  const notes: string[] = [];
  const bounded = new Set<string>();
  for (const [n, v] of ref) {
    if (v.some((x) => x !== 0)) bounded.add(n);
    else notes.push(`output '${n}' is all zeros on these inputs: not bounded`);
  }

  let trials = 0;
  const quantized = (o: QuantizeOptions): { model: Model; report: QuantizeReport } => {
    const model = load();
    const { changes } = runPass(quantizePass(o), model, { toolVersion: VERSION });
    return { model, report: changes };
  };
  const measure = async (o: QuantizeOptions, on: Inputs = inputs, against: Outputs = ref): Promise<{ fid: Fidelity; report: QuantizeReport }> => {
    trials++;
    const q = quantized(o);
    return { fid: compare(against, await runAll(q.model, on, names), classWidth), report: q.report };
  };

  progress('output check: the quantized model');
  const first = await measure(opts);
  const bound = { minOutputSqnrDb: check.minOutputSqnrDb, minAgreement: check.minAgreement };
  const finish = (fid: Fidelity, options: QuantizeOptions, backedOff: BackedOffWeight[], passed: boolean): FitResult => ({
    options,
    report: {
      runtime, inputs: { source: inputs.source, description: inputs.description, samples: inputs.samples }, bound,
      before: first.fid.rows, after: fid.rows, backedOff, trials, passed, seconds: (Date.now() - started) / 1000, notes,
    },
  });
  const bounds = check.minOutputSqnrDb !== undefined || check.minAgreement !== undefined;
  if (!bounds || meets(first.fid, check, bounded)) return finish(first.fid, opts, [], true);

  // The weights to rank, each at its first form, and the ladder above it.
  const ladder = ladderAfter(float.format, opts);
  const weights = [...new Set(first.report.tensors.map((r) => r.name))];
  if (ladder.length === 0 || weights.length === 0) {
    const report = finish(first.fid, opts, [], false).report;
    throw new OutputBoundError(boundMessage(report, check, 'no wider form to back off to'), report);
  }
  const { rungs, wideChoice } = rungFigures(ladder, weights, opts, (o) => quantized(o).report);
  const s0 = weightSqnr(first.report);
  // Ranked on the first sample alone (a run per unit is the cost here); the plan's fit to the
  // measurements on every sample absorbs the difference in scale.
  const one: Inputs = { ...inputs, feeds: inputs.feeds.slice(0, 1), samples: 1 };
  const t0 = Date.now();
  const refOne = await runAll(float, one, names);
  const perRunS = Math.max((Date.now() - t0) / 1000, 1e-3);
  // The units the plan moves: each weight, or, where a run per weight would take more than
  // RANK_BUDGET_S, runs of consecutive weights (graph order) so the ranking fits that time.
  const units = unitsOf(weights, Math.max(MIN_UNITS, Math.floor(RANK_BUDGET_S / perRunS)));
  if (units.length < weights.length) {
    notes.push(`ranked ${weights.length} weights in ${units.length} groups of consecutive weights: one run takes ${perRunS.toFixed(1)} s, a run per weight would exceed ${RANK_BUDGET_S} s`);
  }
  const unitId = (u: readonly string[], i: number): string => (u.length === 1 ? u[0] : `group ${i + 1}`);
  const ids = units.map(unitId);
  const members = new Map(units.map((u, i) => [ids[i], u]));
  const alone = new Map<string, Map<string, number>>();
  const aloneWorst = new Map<string, number | null>();
  for (let i = 0; i < units.length; i++) {
    progress(`output check: sensitivity ${i + 1}/${units.length} (${ids[i]})`);
    const inUnit = new Set(units[i]);
    const others = weights.filter((x) => !inUnit.has(x)).map(exactGlob);
    const m = await measure({ ...opts, exclude: [...opts.exclude, ...others] }, one, refOne);
    alone.set(ids[i], new Map([...m.fid.energy].map(([o, e]) => [o, e.noise])));
    aloneWorst.set(ids[i], worst(m.fid.rows));
  }
  const budget = new Map<string, number>();
  for (const o of bounded) {
    budget.set(o, check.minOutputSqnrDb === undefined ? Infinity : first.fid.energy.get(o)!.signal * 10 ** (-check.minOutputSqnrDb / 10));
  }
  // A unit's rung figure: the mean over its weights of their noise energy relative to the first form,
  // written as a weight SQNR gain over a first form of 0 dB (so a single weight keeps its own figures).
  // A weight already exact in its first form (a float16 model kept in float16) has nothing to gain.
  const gain = (w: string, r: number): number => (s0.get(w)! === Infinity ? 0 : rungs[r].get(w)! - s0.get(w)!);
  const ratio = (w: string, r: number): number => (rungs[r].get(w)! === Infinity && s0.get(w)! !== Infinity ? 0 : Math.min(1, 10 ** (-gain(w, r) / 10)));
  const unitRungs = rungs.map((_, r) => new Map(units.map((u, i) => {
    const ratio_ = u.reduce((sum, w) => sum + ratio(w, r), 0) / u.length;
    return [ids[i], ratio_ === 0 ? Infinity : -10 * Math.log10(ratio_)];
  })));
  const plan = new BackoffPlan({ weights: ids, outputs: [...bounded], alone, first: new Map(ids.map((id) => [id, 0])), rungs: unitRungs, budget });
  const noise = (fid: Fidelity): Map<string, number> => new Map([...fid.energy].map(([o, e]) => [o, e.noise]));
  plan.fit(noise(first.fid), 0);

  /** Each weight's rung after k moves (a weight whose form gains nothing there keeps its first form). */
  const weightRungs = (k: number): Map<string, number> => {
    const at = new Map<string, number>();
    for (const [id, r] of plan.rungsAfter(k)) for (const w of members.get(id)!) if (gain(w, r) > 0) at.set(w, r);
    return at;
  };
  const optionsAt = (k: number): QuantizeOptions => {
    const overrides = new Map<string, WeightOverride>(opts.overrides ?? []);
    const exclude = [...opts.exclude];
    for (const [w, r] of weightRungs(k)) {
      const rung = ladder[r];
      const reason = `output check: ${rungLabel(rung)}`;
      if (rung.kind === 'float') exclude.push(exactGlob(w));
      // Laid over the weight's own settings (a recipe step's block size, symmetry, form), not instead of them.
      else if (rung.kind === 'tfjs-wide') overrides.set(w, { ...opts.overrides?.get(w), tfjsDtype: wideChoice.get(w)!, reason });
      else overrides.set(w, { ...opts.overrides?.get(w), bits: rung.bits, granularity: rung.granularity, reason });
    }
    return { ...opts, overrides, exclude };
  };
  // Measure the shortest prefix of moves predicted to meet the bound; re-fit and go further until it does.
  let k = 0;
  let lo = 0; // the longest prefix measured to miss the bound
  let last = first;
  while (k < plan.moves.length) {
    k = plan.next(k);
    progress(`output check: ${k} back-off step(s)`);
    last = await measure(optionsAt(k));
    if (meets(last.fid, check, bounded)) break;
    lo = k;
    plan.fit(noise(last.fid), k);
  }
  // The fit was made where the errors compound most, so it may overshoot: bisect between the
  // longest prefix that missed and the one that met the bound (fewer weights backed off, smaller file).
  if (meets(last.fid, check, bounded)) {
    for (let step = 0; step < MAX_BISECTIONS && k - lo > 1; step++) {
      const mid = Math.floor((lo + k) / 2);
      progress(`output check: trying ${mid} back-off step(s)`);
      const m = await measure(optionsAt(mid));
      if (meets(m.fid, check, bounded)) { k = mid; last = m; } else lo = mid;
    }
  }
  const unitOf = new Map<string, string>();
  for (const [id, ws] of members) for (const w of ws) unitOf.set(w, id);
  const firstMove = (w: string): number => plan.moves.findIndex((m) => m.weight === unitOf.get(w));
  const backedOff: BackedOffWeight[] = [...weightRungs(k)].sort(([a], [b]) => firstMove(a) - firstMove(b)).map(([w, r]) => {
    const id = unitOf.get(w)!;
    const aw = aloneWorst.get(id) ?? null;
    const rung = ladder[r];
    const what = id === w ? `alone in ${formOf(first.report, w)}` : `${id} (${members.get(id)!.length} weights) alone`;
    return {
      name: w, from: formOf(first.report, w),
      to: rung.kind === 'tfjs-wide' ? `tfjs ${wideChoice.get(w)}` : rung.kind === 'float' ? 'float' : formOf(last.report, w) || rungLabel(rung),
      aloneSqnrDb: aw === null ? null : Math.round(aw * 100) / 100,
      reason: `${what} it takes the outputs to ${aw === null ? '∞' : aw.toFixed(1)} dB`,
    };
  });
  const passed = meets(last.fid, check, bounded);
  const result = finish(last.fid, optionsAt(k), backedOff, passed);
  if (!passed) throw new OutputBoundError(boundMessage(result.report, check, `every weight backed off as far as ${rungLabel(ladder[ladder.length - 1])}`), result.report);
  return result;
}

/**
 * Weight SQNR of every weight at every rung, from one quantized model per rung
 * (quantizing is cheap next to running). tfjs's wide rung takes, per weight,
 * the better of uint16 and float16.
 */
/**
 * Every weight at one rung: the run's settings and each weight's own (a recipe step's, in
 * `overrides`) with the rung's fields laid over both. Without the second part, a weight whose
 * step set its bits would be measured at its own form on every rung, gain nothing, and be sent
 * straight to float.
 */
function atRung(opts: QuantizeOptions, rung: Omit<WeightOverride, 'reason'>): QuantizeOptions {
  const overrides = opts.overrides && new Map([...opts.overrides].map(([w, o]) => [w, { ...o, ...rung }]));
  return { ...opts, ...rung, overrides } as QuantizeOptions;
}

function rungFigures(
  ladder: readonly Rung[], weights: readonly string[], opts: QuantizeOptions, report: (o: QuantizeOptions) => QuantizeReport,
): { rungs: Map<string, number>[]; wideChoice: Map<string, 'uint16' | 'float16'> } {
  const rungs: Map<string, number>[] = [];
  const wideChoice = new Map<string, 'uint16' | 'float16'>();
  for (const rung of ladder) {
    if (rung.kind === 'float') {
      rungs.push(new Map(weights.map((w) => [w, Infinity])));
    } else if (rung.kind === 'tfjs-wide') {
      const a = weightSqnr(report(atRung(opts, { tfjsDtype: 'uint16' })));
      const h = weightSqnr(report(atRung(opts, { tfjsDtype: 'float16' })));
      const m = new Map<string, number>();
      for (const w of weights) {
        const half = (h.get(w) ?? -Infinity) > (a.get(w) ?? -Infinity);
        wideChoice.set(w, half ? 'float16' : 'uint16');
        m.set(w, (half ? h.get(w) : a.get(w)) ?? -Infinity);
      }
      rungs.push(m);
    } else {
      const m = weightSqnr(report(atRung(opts, { bits: rung.bits, granularity: rung.granularity })));
      rungs.push(new Map(weights.map((w) => [w, m.get(w) ?? -Infinity])));
    }
  }
  return { rungs, wideChoice };
}

function boundMessage(r: OutputCheckReport, check: OutputCheckOptions, why: string): string {
  const w = worst(r.after);
  const parts: string[] = [];
  if (check.minOutputSqnrDb !== undefined) parts.push(`output SQNR ≥ ${check.minOutputSqnrDb} dB`);
  if (check.minAgreement !== undefined) parts.push(`top-1 agreement ≥ ${check.minAgreement}`);
  return `the quantized outputs miss the bound (${parts.join(', ')}) in ${r.runtime} on ${r.inputs.description}: worst output ${w === null ? 'exact' : `${w.toFixed(1)} dB`} with ${why}; nothing was written (raise --bits, lower --min-output-sqnr, or pass --no-output-check)`;
}

/**
 * The check a weight quantization run gets unless told otherwise: a 30 dB
 * bound on every output for 8-bit weight-only runs; measured and reported
 * only (no bound) for 4 bits, whose weights sit near 20 dB by nature so a 30 dB
 * bound would undo --bits 4, and for dynamic int8, whose forms have no ladder.
 * `false` turns the check off.
 */
export function outputCheckFor(opts: QuantizeOptions, given: OutputCheckOptions | false | undefined): OutputCheckOptions | undefined {
  if (given === false) return undefined;
  const byDefault = opts.bits === 8 && opts.mode === 'weight' ? DEFAULT_MIN_OUTPUT_SQNR_DB : undefined;
  return { ...given, minOutputSqnrDb: given?.minOutputSqnrDb ?? byDefault };
}

export const DEFAULT_MIN_OUTPUT_SQNR_DB = 30;

/** Seconds the per-weight ranking may take (estimated from one timed run) before weights are ranked in groups. */
const RANK_BUDGET_S = 120;

/** Fewest groups the ranking uses, however slow one run is. */
const MIN_UNITS = 8;

/** `weights` (graph order) as at most `max` runs of consecutive weights of near-equal count. */
export function unitsOf(weights: readonly string[], max: number): string[][] {
  const n = Math.min(weights.length, Math.max(1, max));
  const out: string[][] = [];
  for (let i = 0; i < n; i++) out.push(weights.slice(Math.floor((i * weights.length) / n), Math.floor(((i + 1) * weights.length) / n)));
  return out;
}

/** Measured halvings of the back-off prefix after it first meets the bound (a prefix of 256 moves is pinned to one). */
const MAX_BISECTIONS = 8;
