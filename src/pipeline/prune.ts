/**
 * Prune a model file: load → (saliency: gradients on data) → prune pass →
 * onnxruntime load check → atomic write → sizes (raw and gzip: unstructured
 * sparsity pays off only once compressed). Nothing is written when a step fails.
 */
import * as tf from '@tensorflow/tfjs';
import { openDataset, openLabels } from '../data';
import { loadModel, modelFiles } from '../formats';
import type { Model, Value } from '../ir';
import { runPass } from '../passes/pass';
import { countMacs, findTargets, prunePass, pruneInRounds, saliencyScores, type PruneChanges, type PruneOptions, type SaliencyOptions, type ScoreMap } from '../passes/prune';
import { Executor, unsupportedOps, useGradientBackend } from '../runtime/executor';
import { FileSizes, filesSize } from '../util/file-size';
import { VERSION } from '../version';
import { checkOutputPath, defaultOutputPath, writeOutput } from './output';
import { liftNotes, liftWeights } from './quantize';
import { IncompleteError, UnsupportedError, UsageError } from '../errors';
import { sparsegptPruneModel } from './sparsegpt';

/** A prune that reached under this share of the requested fraction did less than asked. */
export const MIN_PRUNE_SHARE = 0.9;

/**
 * Why a prune run did less than asked, or null: no layer pruned, or under 90% of the
 * requested fraction reached (channels over the channels considered for --pattern channel,
 * zeros over the weights of the pruned layers and of those it could not take otherwise;
 * excluded layers do not count), with one line per layer or group left.
 */
export function pruneShortfall(c: PruneChanges): { summary: string; details: string[] } | null {
  // Layers the pruner could not take count as kept: pruning 1 of 3 layers is not the fraction asked for.
  const held = c.channelFraction ? 0 : c.skipped.reduce((s, l) => s + (l.params ?? 0), 0);
  const params = c.layers.reduce((s, l) => s + l.params, 0);
  const achieved = c.channelFraction ? c.channelFraction.achieved : held ? (c.globalSparsity * params) / (params + held) : c.globalSparsity;
  const requested = c.targetSparsity;
  if (c.layers.length > 0 && (requested === 0 || achieved >= MIN_PRUNE_SHARE * requested)) return null;
  const details = c.skipped.map((s) => `${s.layer}: ${s.reason}`);
  for (const g of c.groups ?? []) if (g.reasons.length) details.push(`group ${g.layers.join(' + ')}: ${g.reasons.join('; ')}`);
  const what = c.channelFraction ? 'of the channels' : held ? 'of the weights of the pruned and the skipped layers' : 'of the weights of the pruned layers';
  const summary = c.layers.length === 0
    ? `pruned no layer (${c.skipped.length} skipped${details.length ? `: ${details[0]}${details.length > 1 ? ', …' : ''}` : ''})`
    : `pruned ${(achieved * 100).toFixed(1)}% ${what}, under ${MIN_PRUNE_SHARE * 100}% of the requested ${(requested * 100).toFixed(1)}%`;
  return { summary, details };
}

export interface PruneFileOptions {
  input: string;
  /** Default: model.onnx → model.pruned50.onnx, m/ → m-pruned50/. */
  output?: string;
  prune: PruneOptions;
  /** Saliency: input samples for the gradients, and optionally their class ids. */
  data?: string;
  labels?: string;
  samples: number;
  batchSize: number;
  force: boolean;
  /** Write the result even when it pruned less than 90% of the requested fraction (default false: IncompleteError). */
  allowPartial?: boolean;
  progress?: (message: string) => void;
}

export interface PruneFileResult {
  input: string;
  output: string;
  report: PruneChanges;
  size: { before: FileSizes; after: FileSizes };
  /** The saliency loss used: cross-entropy with labels, Fisher (sampled labels) without. */
  saliencyLoss?: 'cross-entropy' | 'fisher';
  /** Whether onnxruntime opened the result before it was written. */
  verified: boolean;
  notes: string[];
}

/** The default output tag: pruned50 for --sparsity 0.5. */
export function pruneTag(sparsity: number): string {
  return `pruned${Math.round(sparsity * 100)}`;
}

export async function pruneFile(o: PruneFileOptions): Promise<PruneFileResult> {
  const progress = o.progress ?? (() => {});
  const output = o.output ?? defaultOutputPath(o.input, pruneTag(o.prune.sparsity));
  checkOutputPath(o.input, output, o.force);
  progress('loading');
  const model = loadModel(o.input);
  const before = await filesSize(modelFiles(o.input, model), { gzip: true });
  const notes: string[] = liftNotes(liftWeights(model, progress));
  const pruned = await pruneModel(model, o.prune, { ...o, label: o.input, progress });
  notes.push(...pruned.notes);
  const written = await writeOutput(model, { input: o.input, output, force: o.force, verify: true, gzip: true, progress });
  return {
    input: o.input, output, report: pruned.report, size: { before, after: written }, saliencyLoss: pruned.saliencyLoss,
    verified: written.verified, notes: [...notes, ...written.notes],
  };
}

export interface PruneModelOptions {
  /** Names the model in errors (its path). */
  label: string;
  /** Saliency: input samples for the gradients, and optionally their class ids. */
  data?: string;
  labels?: string;
  samples: number;
  batchSize: number;
  /** Keep a result that pruned less than 90% of the requested fraction (a note); default false: IncompleteError. */
  allowPartial?: boolean;
  progress?: (message: string) => void;
}

/** Prunes a model in memory (in place): saliency gradients on data when asked, the prune pass, the shortfall check. */
export async function pruneModel(model: Model, prune: PruneOptions, o: PruneModelOptions): Promise<{ report: PruneChanges; saliencyLoss?: PruneFileResult['saliencyLoss']; notes: string[] }> {
  const progress = o.progress ?? (() => {});
  const notes: string[] = [];
  let saliencyLoss: PruneFileResult['saliencyLoss'];
  let saliency: Omit<SaliencyOptions, 'channel'> | undefined;
  if (prune.criterion === 'saliency') {
    const inputs = model.graph.inputs.filter((v) => !v.const).map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] }));
    const labels = o.labels ? openLabels(o.labels) : undefined;
    await useGradientBackend(tf, 'wasm');
    saliency = { tf, data: openDataset(o.data!, { inputs }), labels, samples: o.samples, batchSize: o.batchSize, progress };
    saliencyLoss = labels ? 'cross-entropy' : 'fisher';
    if (!labels) notes.push('no --labels: Fisher saliency (labels sampled from the model\'s own softmax, squared Taylor terms)');
  }
  const macsBefore = prune.pattern === 'channel' ? await macs(model) : undefined;
  let changes: PruneChanges;
  if (prune.criterion === 'sparsegpt') {
    if (!o.data) throw new UsageError('--method sparsegpt needs --data (calibration inputs for the layer Hessians; not the eval set)');
    changes = await sparsegptPruneModel(model, prune, { data: o.data, samples: o.samples, batchSize: o.batchSize, progress });
    const rec = changes.reconstruction!;
    notes.push(`SparseGPT: ${rec.passes} pass(es) over ${rec.samples} calibration sample(s) (${rec.seconds.collect.toFixed(1)} s collecting inputs, ${rec.seconds.reconstruct.toFixed(1)} s pruning)`);
    for (const f of rec.fallbacks) notes.push(`${f.layer}: ${f.reason}`);
  } else if (saliency && prune.pattern === 'channel') {
    // Each round re-scores the partly pruned model on the same samples (same batches, same label seed).
    const s = saliency;
    ({ changes } = await pruneInRounds(model, prune, (m, targets) => saliencyScores(m, targets, { ...s, channel: true }), { toolVersion: VERSION, progress }));
  } else {
    const scores: ScoreMap | undefined = saliency
      ? await saliencyScores(model, findTargets(model, prune.exclude).targets, { ...saliency, channel: false })
      : undefined;
    ({ changes } = runPass(prunePass(prune, scores), model, { toolVersion: VERSION, progress }));
  }
  if (macsBefore !== undefined) {
    const after = await macs(model);
    if (after !== undefined) changes.flops = { before: macsBefore, after };
  }
  const partial = pruneShortfall(changes);
  if (partial && o.allowPartial !== true) {
    throw new IncompleteError(`${o.label}: ${partial.summary}; nothing written (--allow-partial writes it anyway)`, partial.details);
  }
  if (partial) notes.push(`partial: ${partial.summary}`);
  return { report: changes, saliencyLoss, notes };
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
    let shapes: Map<Value, number[]>;
    try {
      shapes = ex.shapes(feeds);
    } catch (e) {
      // A node the executor takes only in some forms (Resize by a scale that is not exact) ends the estimate, not the prune.
      if (e instanceof UnsupportedError) return undefined;
      throw e;
    }
    return countMacs(model, (v: Value) => shapes.get(v));
  } finally {
    ex.dispose();
    tf.dispose(Object.values(feeds));
  }
}
