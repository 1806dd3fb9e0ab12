/**
 * `mc prune`: magnitude or Taylor-saliency pruning, unstructured, n:m or whole
 * output channels. Thin over the prune pass: load → (saliency: gradients on data)
 * → pass → ONNX load check in onnxruntime → atomic save → sizes → optional eval.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { defineCommand } from '../command';
import type { CliContext } from '../context';
import { UsageError } from '../../errors';
import { detectFormat, loadModel, modelFiles, modelRoot, saveModel } from '../../formats';
import { encodeOnnx } from '../../formats/onnx';
import { saveTfjs } from '../../formats/tfjs';
import { openDataset, openLabels } from '../../data';
import { evaluate, type EvalReport } from '../../eval';
import type { Model, Value } from '../../ir';
import { runPass } from '../../passes/pass';
import {
  countMacs, findTargets, PRUNE_DEFAULTS, prunePass, saliencyScores, validatePruneOptions,
  type Criterion, type Pattern, type PruneChanges, type PruneOptions, type Scope, type ScoreMap,
} from '../../passes/prune';
import { Executor, unsupportedOps, useGradientBackend } from '../../runtime/executor';
import { OrtRunner } from '../../runtime';
import { checkNotOverwritingInput } from '../../util/atomic';
import { VERSION } from '../../version';
import { addBudgetOptions, budgetsFromFlags } from './eval';
import type { Budgets } from '../../eval';
import { formatBytes } from '../format';
import { renderTable } from '../table';

export interface PruneCliOptions {
  input: string;
  /** undefined: model.onnx → model.pruned50.onnx, m/ → m-pruned50/. */
  output?: string;
  prune: PruneOptions;
  /** Gradient data for saliency (and its labels). */
  data?: string;
  labels?: string;
  samples: number;
  batchSize: number;
  evalData?: string;
  evalLabels?: string;
  budgets: Budgets;
  force: boolean;
  json: boolean;
}

export interface PruneFileResult {
  input: string;
  output: string;
  report: PruneChanges;
  size: { before: { bytes: number; gzipBytes: number }; after: { bytes: number; gzipBytes: number } };
  /** The saliency loss used: cross-entropy with labels, Fisher (sampled labels) without. */
  saliencyLoss?: 'cross-entropy' | 'fisher';
  eval?: EvalReport;
  notes: string[];
}

const CRITERIA: readonly Criterion[] = ['magnitude', 'saliency'];
const PATTERNS: readonly Pattern[] = ['unstructured', 'n:m', 'channel'];
const SCOPES: readonly Scope[] = ['layer', 'global'];

export const pruneCommand = defineCommand<PruneCliOptions>({
  name: 'prune',
  configure: (cmd) => {
    cmd
      .description('prune weights by magnitude or Taylor saliency: unstructured, n:m, or whole output channels (which shrinks the model)')
      .argument('<model>', 'input model (.onnx, model.json or its folder)')
      .option('-o, --output <path>', 'output (default: model.pruned50.onnx, or folder m-pruned50/)')
      .requiredOption('--sparsity <s>', 'fraction to remove, in [0, 1): of weights, or of output channels with --pattern channel')
      .option('--criterion <c>', 'magnitude or saliency', 'magnitude')
      .option('--pattern <p>', 'unstructured, n:m or channel', 'unstructured')
      .option('--n-m <n:m>', 'n:m pattern: n zeros in every m consecutive weights along the reduction axis', '2:4')
      .option('--scope <s>', 'layer (each layer to the target) or global (rank all layers together)', 'layer')
      .option('--exclude <glob...>', 'node or weight names to leave alone (minimatch globs)')
      .option('--min-density <d>', 'global scope: every layer keeps at least this fraction', '0.05')
      .option('--data <x>', 'saliency: input samples for the gradients (.npy/.npz/folder; not the eval set)')
      .option('--labels <y>', 'saliency: class ids for --data (cross-entropy); without, Fisher saliency with sampled labels')
      .option('--samples <n>', 'saliency: samples of --data to use', '256')
      .option('--batch-size <n>', 'saliency: mini-batch size of one gradient', '32')
      .option('--eval-data <x>', 'after pruning, evaluate against the input model on this data')
      .option('--eval-labels <y>', 'labels for --eval-data (accuracy)')
      .option('--force', 'allow the output to replace the input')
      .option('--json', 'print the report as JSON on stdout');
    addBudgetOptions(cmd);
  },
  parse: ([input], flags) => parsePruneFlags(input, flags),
  run: async (o, ctx) => {
    const progress = ctx.progress(`pruning ${o.input}`, { quiet: o.json });
    let result: PruneFileResult;
    try {
      result = await pruneFile(o, (m) => progress.update(m));
      progress.stop();
    } catch (e) {
      progress.fail();
      throw e;
    }
    ctx.io.stdout.write(o.json ? JSON.stringify(result, null, 2) + '\n' : renderHuman(result, ctx));
    return result.eval && !result.eval.passed ? 1 : 0;
  },
});

function num(v: unknown, flag: string): number {
  const s = String(v);
  const x = Number(s);
  if (s.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${flag} must be a number, got '${s}'`);
  return x;
}

function whole(v: unknown, flag: string, min: number): number {
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UsageError(`${flag} must be a whole number ≥ ${min}, got '${s}'`);
  return Number(s);
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], flag: string): T {
  const s = String(v);
  if (!allowed.includes(s as T)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got '${s}'`);
  return s as T;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** argv values → typed options; every range check happens here, before any file is read. */
export function parsePruneFlags(input: string, flags: Readonly<Record<string, unknown>>): PruneCliOptions {
  const nmRaw = String(flags.nM ?? '2:4');
  const m = /^(\d+):(\d+)$/.exec(nmRaw);
  if (!m) throw new UsageError(`--n-m must look like 2:4, got '${nmRaw}'`);
  const prune: PruneOptions = {
    sparsity: num(flags.sparsity, '--sparsity'),
    criterion: oneOf(flags.criterion ?? PRUNE_DEFAULTS.criterion, CRITERIA, '--criterion'),
    pattern: oneOf(flags.pattern ?? PRUNE_DEFAULTS.pattern, PATTERNS, '--pattern'),
    nm: { n: Number(m[1]), m: Number(m[2]) },
    scope: oneOf(flags.scope ?? PRUNE_DEFAULTS.scope, SCOPES, '--scope'),
    exclude: Array.isArray(flags.exclude) ? flags.exclude.map(String) : [],
    minDensity: num(flags.minDensity ?? PRUNE_DEFAULTS.minDensity, '--min-density'),
  };
  validatePruneOptions(prune);
  const data = str(flags.data);
  if (prune.criterion === 'saliency' && !data) throw new UsageError('--criterion saliency needs --data (input samples for the gradients; --labels recommended)');
  if (flags.labels !== undefined && !data) throw new UsageError('--labels needs --data');
  if (flags.evalLabels !== undefined && flags.evalData === undefined) throw new UsageError('--eval-labels needs --eval-data');
  return {
    input,
    output: str(flags.output),
    prune,
    data,
    labels: str(flags.labels),
    samples: whole(flags.samples ?? '256', '--samples', 1),
    batchSize: whole(flags.batchSize ?? '32', '--batch-size', 1),
    evalData: str(flags.evalData),
    evalLabels: str(flags.evalLabels),
    budgets: budgetsFromFlags(flags),
    force: flags.force === true,
    json: flags.json === true,
  };
}

/** model.onnx → model.pruned50.onnx; m/ or m/model.json → m-pruned50 (a sibling folder). */
export function defaultPruneOutput(input: string, sparsity: number): string {
  const tag = `pruned${Math.round(sparsity * 100)}`;
  if (detectFormat(input) === 'onnx') {
    const ext = path.extname(input);
    return path.join(path.dirname(input), `${path.basename(input, ext)}.${tag}${ext}`);
  }
  return `${modelRoot(input).replace(/[\\/]+$/, '')}-${tag}`;
}

/** Prunes the model at `o.input` and writes it; nothing is written when any step fails. */
export async function pruneFile(o: PruneCliOptions, progress: (m: string) => void = () => {}): Promise<PruneFileResult> {
  const format = detectFormat(o.input);
  const output = o.output ?? defaultPruneOutput(o.input, o.prune.sparsity);
  checkNotOverwritingInput(modelRoot(o.input), modelRoot(output), o.force);
  const before = sizes(modelFiles(o.input));
  progress('loading');
  const model = loadModel(o.input);
  const notes: string[] = [];
  let scores: ScoreMap | undefined;
  let saliencyLoss: PruneFileResult['saliencyLoss'];
  if (o.prune.criterion === 'saliency') {
    const { targets } = findTargets(model, o.prune.exclude);
    const data = openDataset(o.data!, { inputs: model.graph.inputs.filter((v) => !v.const).map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] })) });
    const labels = o.labels ? openLabels(o.labels) : undefined;
    await useGradientBackend(tf, 'wasm');
    scores = await saliencyScores(model, targets, {
      tf, data, labels, samples: o.samples, batchSize: o.batchSize, channel: o.prune.pattern === 'channel', progress,
    });
    saliencyLoss = labels ? 'cross-entropy' : 'fisher';
    if (!labels) notes.push('no --labels: Fisher saliency (labels sampled from the model\'s own softmax, squared Taylor terms)');
  }
  const macsBefore = o.prune.pattern === 'channel' ? await macs(model) : undefined;
  const { changes } = runPass(prunePass(o.prune, scores), model, { toolVersion: VERSION, progress });
  if (macsBefore !== undefined) {
    const after = await macs(model);
    if (after !== undefined) changes.flops = { before: macsBefore, after };
  }
  if (format === 'onnx') {
    progress('checking the result in onnxruntime');
    await verifyInOrt(model, output);
    saveModel(model, output);
  } else {
    saveTfjsAtomically(model, output, o.force);
  }
  const result: PruneFileResult = { input: o.input, output, report: changes, size: { before, after: sizes(modelFiles(output)) }, saliencyLoss, notes };
  if (o.evalData) {
    progress('evaluating');
    result.eval = await evaluate({ candidate: output, baseline: o.input, data: o.evalData, labels: o.evalLabels, budgets: o.budgets });
  }
  return result;
}

/** MACs per sample from a batch-1 forward pass of the executor (undefined when it cannot run the model). */
async function macs(model: Model): Promise<number | undefined> {
  if (model.format !== 'onnx' || unsupportedOps(model).length) return undefined;
  await useGradientBackend(tf, 'wasm');
  const feeds: Record<string, tf.Tensor> = {};
  for (const v of model.graph.inputs) {
    if (v.const) continue;
    if (!v.shape || v.shape.slice(1).some((d) => typeof d !== 'number')) return undefined;
    feeds[v.name] = tf.zeros([1, ...(v.shape.slice(1) as number[])]);
  }
  const ex = new Executor(model, tf);
  try {
    const shapes = ex.shapes(feeds);
    return countMacs(model, (v: Value) => shapes.get(v));
  } finally {
    ex.dispose();
    tf.dispose(Object.values(feeds));
  }
}

async function verifyInOrt(model: Model, output: string): Promise<void> {
  try {
    const r = await OrtRunner.create(encodeOnnx(model), { label: output });
    await r.dispose();
  } catch (e) {
    throw new Error(`the pruned model failed onnxruntime's load check, nothing was written: ${(e as Error).message}`);
  }
}

/** tfjs: write into a temp sibling folder, then move it into place. */
function saveTfjsAtomically(model: Model, output: string, force: boolean): void {
  const dir = path.extname(output).toLowerCase() === '.json' ? path.dirname(output) : output;
  const tmp = path.join(path.dirname(path.resolve(dir)), `.${path.basename(dir)}.${process.pid}.tmp`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    saveTfjs(model, tmp);
    if (fs.existsSync(dir)) {
      if (fs.readdirSync(dir).length && !fs.existsSync(path.join(dir, 'model.json')) && !force) {
        throw new UsageError(`output folder ${dir} exists and is not a tfjs model; pass --force or choose another -o`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Raw and gzip (-6) bytes of a model's files. Zeros in dense tensors show up in the gzip size. */
function sizes(files: string[]): { bytes: number; gzipBytes: number } {
  let bytes = 0;
  let gzipBytes = 0;
  for (const f of files) {
    const b = fs.readFileSync(f);
    bytes += b.byteLength;
    gzipBytes += gzipSync(b, { level: 6 }).byteLength;
  }
  return { bytes, gzipBytes };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function renderHuman(r: PruneFileResult, ctx: CliContext): string {
  const c = ctx.chalk;
  const rep = r.report;
  const channel = rep.pattern === 'channel';
  const rows = rep.layers.map((l) => [
    l.layer, l.op, JSON.stringify(l.shape), channel ? JSON.stringify(l.newShape) : String(l.zeros),
    channel ? `${l.channelsRemoved}/${l.channels}` : '', pct(l.sparsity),
  ]);
  const head = ['layer', 'op', 'shape', channel ? 'new shape' : 'zeros', channel ? 'channels removed' : '', channel ? 'params removed' : 'sparsity'];
  let out = renderTable(head.map((h, i) => ({ header: h, align: i >= 3 ? 'right' as const : 'left' as const })), rows) + '\n';
  for (const s of rep.skipped) out += `${c.yellow('skipped')} ${s.layer}: ${s.reason}\n`;
  const pattern = rep.pattern === 'n:m' ? `${rep.nm!.n}:${rep.nm!.m}` : rep.pattern;
  out += `${rep.criterion}${r.saliencyLoss ? ` (${r.saliencyLoss})` : ''}, ${pattern}, ${rep.scope} scope: ${pct(rep.globalSparsity)} of pruned-layer weights ${channel ? 'removed' : 'zero'}\n`;
  if (rep.flops) out += `MACs per sample: ${rep.flops.before.toLocaleString('en-US')} → ${rep.flops.after.toLocaleString('en-US')} (${pct(1 - rep.flops.after / rep.flops.before)} fewer)\n`;
  const b = r.size.before;
  const a = r.size.after;
  out += `${c.green('wrote')} ${r.output}: ${formatBytes(b.bytes)} → ${formatBytes(a.bytes)} raw, ${formatBytes(b.gzipBytes)} → ${formatBytes(a.gzipBytes)} gzip\n`;
  if (r.eval) {
    const acc = (side: EvalReport['candidate'] | null) => (side?.accuracy?.top1 != null ? pct(side.accuracy.top1) : 'n/a');
    out += `accuracy ${acc(r.eval.baseline)} → ${acc(r.eval.candidate)}; latency ${r.eval.baseline?.latency?.medianMs?.toFixed(3) ?? 'n/a'} → ${r.eval.candidate.latency?.medianMs?.toFixed(3) ?? 'n/a'} ms median\n`;
    for (const g of r.eval.budgets) out += `${g.passed ? c.green('pass') : c.red('FAIL')} ${g.name} ${g.value ?? 'n/a'} (limit ${g.limit})\n`;
  }
  for (const n of r.notes) out += `${c.dim('note')} ${n}\n`;
  return out;
}
