/**
 * Backup precision for low-bit runs: the embedding table(s) and the last layer
 * stay wider than the run's 4 bits, as NNCF's weight compression ("backup
 * precision", int8 by default) and transformers.js's q4 models do. Quantizing
 * them to int4 costs the most for the fewest bytes: on a char-level transformer
 * an int4 embedding alone took the perplexity from 5.20 to 5.63 (issue 12).
 *
 * Which weights, decided from the graph, not from names:
 *   - embedding: a weight read through an 'embedding' slot of the op registry
 *     (ONNX Gather data, tf GatherV2, keras Embedding);
 *   - last layer: the weight of the op that produces a graph output, walking
 *     back from the output through data-movement ops only (Reshape, Transpose,
 *     Squeeze, Flatten, ...) and the layer's own bias add (Add/BiasAdd of a
 *     constant), which belongs to the layer.
 *
 * The backup is laid over the run as per-weight overrides (options.ts
 * WeightOverride), so the quantize pass emits round 1's forms unchanged:
 *   8  → the weight becomes int8 per channel (tfjs: uint8, 256 levels);
 *   16 → the weight keeps 16 bits or more: ONNX keeps it in its own float
 *        (ONNX has no per-weight float16 form without a Cast, which would cost
 *        a node per weight and run slower), tfjs stores it as float16;
 *   'none' → round 1's behaviour: every weight takes the run's bits.
 * A backup only ever widens: it applies to weights whose own bits are below it.
 */
import { minimatch } from 'minimatch';
import { defaultOpRegistry, Model, Node, OpRegistry, Value } from '../../ir';
import { traceWeightChain } from '../../graph/weight-chains';
import { optionsFor, type QuantizeOptions, type WeightOverride } from './options';
import type { SkippedTensor } from './report';
import { selectWeights } from './select';

export type BackupBits = 8 | 16 | 'none';
export const BACKUP_BITS: readonly BackupBits[] = [8, 16, 'none'];

/** Which backup each weight gets: `bits` for every weight, `perWeight` (a recipe's steps) where it names one. */
export interface BackupPolicy {
  bits: BackupBits;
  perWeight?: ReadonlyMap<string, BackupBits>;
}

/** The default of `mc quantize` and of the library: int8 backup (a no-op for 8-bit weights). */
export const DEFAULT_BACKUP: BackupPolicy = { bits: 8 };

/** A weight that took the backup precision, and why (one line for the report). */
export interface BackupChoice {
  name: string;
  role: 'embedding' | 'last layer';
  /** 8: int8; 16: float (ONNX, the weight's own dtype) or float16 (tfjs). */
  bits: 8 | 16;
  /** What it would have been without the backup. */
  fromBits: number;
  reason: string;
}

/** An embedding table or a last-layer weight of the model, with the node that reads it and how it was found. */
export interface BackupCandidate {
  name: string;
  role: 'embedding' | 'last layer';
  why: string;
}

/** Ops that move values without changing them, with the input that carries the data. */
const MOVES: Readonly<Record<string, number>> = {
  Identity: 0, Reshape: 0, Transpose: 0, Squeeze: 0, Unsqueeze: 0, Flatten: 0, ExpandDims: 0, Cast: 0,
};
/** A layer's bias add: the layer is the producer of its non-constant input. */
const BIAS_ADDS = new Set(['Add', 'AddV2', 'BiasAdd']);
const MAX_WALK = 16;

/**
 * The embedding tables and last-layer weights among the weights `opts` would quantize,
 * in the model's weight order (embeddings first found first).
 */
export function backupCandidates(model: Model, opts: QuantizeOptions, registry: OpRegistry = defaultOpRegistry): BackupCandidate[] {
  const selected = selectWeights(model, registry, opts, [] as SkippedTensor[]);
  const heads = lastLayers(model);
  const out: BackupCandidate[] = [];
  for (const [v, sel] of selected) {
    const reads = readers(v, sel.consumers, sel.via !== undefined, registry);
    const emb = reads.find((r) => registry.slotOf(r.node, r.index, v.const!.shape.length)?.spec.role === 'embedding');
    if (emb) {
      out.push({ name: v.name, role: 'embedding', why: `embedding table read by ${emb.node.describe()}` });
      continue;
    }
    const head = reads.map((r) => heads.get(r.node)).find((h) => h !== undefined);
    if (head) out.push({ name: v.name, role: 'last layer', why: `last layer: ${head}` });
  }
  return out;
}

/**
 * `opts` with the backup laid over the embedding and last-layer weights, and one
 * BackupChoice per weight it widened. Weights already excluded stay excluded.
 */
export function withBackup(model: Model, opts: QuantizeOptions, policy: BackupPolicy, registry: OpRegistry = defaultOpRegistry): { options: QuantizeOptions; chosen: BackupChoice[] } {
  const bitsOf = (name: string): BackupBits => policy.perWeight?.get(name) ?? policy.bits;
  if (policy.bits === 'none' && ![...(policy.perWeight?.values() ?? [])].some((b) => b !== 'none')) return { options: opts, chosen: [] };
  const overrides = new Map<string, WeightOverride>(opts.overrides ?? []);
  const exclude = [...opts.exclude];
  const chosen: BackupChoice[] = [];
  const tfjs = model.format !== 'onnx';
  for (const c of backupCandidates(model, opts, registry)) {
    const backup = bitsOf(c.name);
    const own = optionsFor(opts, c.name);
    if (backup === 'none' || own.bits >= backup) continue;
    const flag = `--backup-bits ${backup}; --backup-bits none gives it the run's ${own.bits} bits`;
    if (backup === 8) {
      // Round 1's int8 default: per channel (rows of an embedding table), the step's own symmetry.
      overrides.set(c.name, { ...opts.overrides?.get(c.name), bits: 8, granularity: 'channel', ...(tfjs ? { tfjsDtype: 'uint8' as const } : {}), reason: `backup int8: ${c.why}` });
      chosen.push({ name: c.name, role: c.role, bits: 8, fromBits: own.bits, reason: `int8 instead of int${own.bits}: ${c.why} (${flag})` });
    } else if (tfjs) {
      overrides.set(c.name, { ...opts.overrides?.get(c.name), tfjsDtype: 'float16', reason: `backup float16: ${c.why}` });
      chosen.push({ name: c.name, role: c.role, bits: 16, fromBits: own.bits, reason: `float16 instead of int${own.bits}: ${c.why} (${flag})` });
    } else {
      exclude.push(minimatch.escape(c.name));
      chosen.push({ name: c.name, role: c.role, bits: 16, fromBits: own.bits, reason: `kept float instead of int${own.bits}: ${c.why} (${flag})` });
    }
  }
  return { options: { ...opts, overrides, exclude }, chosen };
}

/** The nodes that read weight `v` as a weight: its direct consumers, or the ends of its data-movement chain. */
function readers(v: Value, consumers: readonly { node: Node; index: number }[], chained: boolean, registry: OpRegistry): { node: Node; index: number }[] {
  if (!chained) return consumers.map((c) => ({ node: c.node, index: c.index }));
  const trace = traceWeightChain(v, v.const!.shape.length, registry);
  return trace.ok ? trace.ends.map((e) => ({ node: e.node, index: e.index })) : [];
}

/** Node → a description of the graph output it produces (through data movement and its bias add). */
function lastLayers(model: Model): Map<Node, string> {
  const out = new Map<Node, string>();
  for (const o of model.graph.outputs) {
    let v: Value | null = o;
    const via: string[] = [];
    for (let i = 0; i < MAX_WALK && v?.producer; i++) {
      const p: Node = v.producer;
      const data = MOVES[p.opType];
      if (data !== undefined) { via.push(p.opType); v = p.inputs[data] ?? null; continue; }
      const rest = BIAS_ADDS.has(p.opType) && p.inputs.length === 2 ? p.inputs.filter((x) => x && !x.const) : [];
      if (rest.length === 1) { via.push(`${p.opType} (its bias)`); v = rest[0]; continue; }
      if (!out.has(p)) out.set(p, `${p.describe()} produces graph output '${o.name}'${via.length ? ` through ${via.reverse().join(', ')}` : ''}`);
      break;
    }
  }
  return out;
}
