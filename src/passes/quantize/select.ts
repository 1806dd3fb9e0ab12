/**
 * Which weights the quantize pass takes, and why it leaves every other one alone.
 *
 * A weight is an initializer of any graph level (the main graph or an If/Loop/Scan
 * body; `Constant` nodes are lifted to initializers first, src/graph/lift-constants.ts)
 * that some node reads through a weight slot of the op registry. The reader may sit
 * in a deeper subgraph than the weight (an outer-scope reference): its `anchor` is then
 * the node of the weight's own graph that holds the reader, so the DequantizeLinear is
 * placed in the weight's graph, ahead of it, and the reader takes its output from the
 * enclosing scope.
 *
 * Every learned float constant that is not quantized gets a SkippedTensor with a kind,
 * so the CLI can tell a user's choice (excluded, --op-types, --min-elements) from a
 * weight mc could not take (dtype, unsupported op role), and fail on the latter.
 */
import { minimatch } from 'minimatch';
import { Graph, isFloatDType, Model, Node, OpRegistry, Value } from '../../ir';
import { graphsOf, subgraphsOf } from '../../graph/constants';
import { traceWeightChain } from '../../graph/weight-chains';
import { scaleCount, weightLayout } from './weights';
import type { Consumer } from './onnx/common';
import { optionsFor, type QuantizeOptions } from './options';
import type { SkippedTensor, SkipKind } from './report';

export interface SelectedWeight {
  /** The graph whose initializer the weight is; the quantized constants go there. */
  owner: Graph;
  consumers: Consumer[];
  /** Set when the weight reaches its op through data-movement nodes (graph/weight-chains.ts): the chain, e.g. 'Slice→Concat→Unsqueeze→LSTM'. */
  via?: string;
}

/** Skip kinds that follow from the user's own settings: they do not make a run partial. */
export const CHOSEN_SKIPS: ReadonlySet<SkipKind> = new Set<SkipKind>(['excluded', 'op-types', 'mode', 'too-small']);

const QUANTIZABLE_FLOATS = new Set(['float32', 'float16', 'bfloat16']);

export function selectWeights(model: Model, registry: OpRegistry, opts: QuantizeOptions, skipped: SkippedTensor[]): Map<Value, SelectedWeight> {
  const owners = new Map<Value, Graph>();
  for (const g of graphsOf(model.graph)) for (const v of g.initializers) owners.set(v, g);
  const out = new Map<Value, SelectedWeight>();
  const skippedValues = new Set<Value>();
  const skip = (v: Value, kind: SkipKind, reason: string): void => {
    if (skippedValues.has(v) || out.has(v)) return;
    skippedValues.add(v);
    skipped.push({ name: v.name, kind, reason, bytes: v.const?.byteLength ?? 0 });
  };
  const excluded = (name: string): boolean => opts.exclude.some((g) => minimatch(name, g, { dot: true }));
  /** Why weight `v`, read as a weight by ops `ops` (in node `nodeName`), stays float: the user's settings first, then its dtype and size. */
  const refusal = (v: Value, ops: readonly string[], nodeName: string, axes: { outAxis?: number; inAxis?: number } = {}): [SkipKind, string] | null => {
    const t = v.const!;
    const o = optionsFor(opts, v.name);
    const notListed = opts.opTypes ? ops.filter((op) => !opts.opTypes!.includes(op)) : [];
    if (notListed.length) return ['op-types', `op ${notListed.join(', ')} not in --op-types`];
    // onnxruntime's ConvInteger has no fast CPU kernel: a dynamic int8 Conv measured 5× slower than
    // float on the fixture CNN, so dynamic mode leaves Conv alone unless --op-types names it.
    if (o.mode === 'dynamic' && ops.includes('Conv') && !opts.opTypes?.includes('Conv')) {
      return ['mode', 'Conv in dynamic mode (ConvInteger is slower than float Conv in onnxruntime; use --calib for int8 convolutions, or --op-types Conv to force)'];
    }
    if (excluded(v.name) || (nodeName !== '' && excluded(nodeName))) return ['excluded', 'excluded'];
    if (!QUANTIZABLE_FLOATS.has(t.dtype)) return ['dtype', `${t.dtype}, not float32, float16 or bfloat16`];
    if (t.size < o.minElements) return ['too-small', `${t.size} elements < --min-elements ${o.minElements}`];
    const after = quantizedBytesBound(t.size, o.bits, scaleCount(t.shape, weightLayout(t.shape, o.granularity, o.blockSize, axes)));
    if (after >= t.byteLength) return ['too-small', `its quantized form (about ${after} bytes with scales) would not be smaller than its ${t.byteLength} bytes`];
    return null;
  };
  const readAsWeight = new Set<Value>();
  /** For every node, the nodes holding it from the main graph down (itself last), and its depth-first position. */
  const chains = new Map<Node, { graph: Graph; node: Node }[]>();
  const order = new Map<Node, number>();

  const visit = (graph: Graph, chain: { graph: Graph; node: Node }[]): void => {
    for (const node of graph.nodes) {
      const here = [...chain, { graph, node }];
      chains.set(node, here);
      order.set(node, order.size);
      for (const rw of registry.weightsOf(node)) {
        const v = rw.value;
        const t = v.const!;
        const owner = owners.get(v);
        if (!owner) continue;
        readAsWeight.add(v);
        if (rw.spec.role !== 'weight' && rw.spec.role !== 'embedding') continue;
        const anchor = here.find((h) => h.graph === owner)?.node;
        if (!anchor) { skip(v, 'subgraph', `read by ${node.describe()} outside the graph that holds it`); continue; }
        const why = refusal(v, [node.opType], node.name, rw);
        if (why) { skip(v, ...why); continue; }
        const sel = out.get(v) ?? { owner, consumers: [] };
        sel.consumers.push({ node, index: rw.index, outAxis: rw.outAxis, inAxis: rw.inAxis, anchor: anchor === node ? undefined : anchor });
        out.set(v, sel);
      }
      for (const sub of subgraphsOf(node)) visit(sub, here);
    }
  };
  visit(model.graph, []);

  // Learned float constants that no weight slot took: say why each stays float.
  for (const v of owners.keys()) {
    const t = v.const!;
    if (out.has(v) || skippedValues.has(v) || !isFloatDType(t.dtype) || v.uses.length === 0) continue;
    // Biases and normalization parameters are read through their own registry slots: not weights to quantize.
    if (readAsWeight.has(v)) continue;
    // Scalars and small tables (Resize scales, Pow exponents, Clip bounds) are not weights either.
    const o = optionsFor(opts, v.name);
    if (t.size < o.minElements) { skip(v, 'too-small', `${t.size} elements < --min-elements ${o.minElements} (read by ${readersOf(v)})`); continue; }
    if (quantizedBytesBound(t.size, o.bits, 1) >= t.byteLength) { skip(v, 'too-small', `${t.byteLength} bytes, too few to save any by quantizing (read by ${readersOf(v)})`); continue; }
    const refused = v.uses.flatMap((u) => registry.refusedWeightsOf(u.node).filter((r) => r.value === v));
    if (refused.length) { skip(v, 'role', `not a ${refused[0].role} of ${refused[0].node.describe()}: ${refused[0].reason}`); continue; }
    const trace = traceWeightChain(v, t.shape.length, registry);
    // A bias reaching its slot through a chain is a bias like any other: not a weight to quantize.
    if (!trace.ok && trace.role) continue;
    if (!trace.ok) { skip(v, 'role', `no supported weight role: ${trace.reason}`); continue; }
    const endOps = [...new Set(trace.ends.map((e) => e.node.opType))];
    const agreedAxis = agreed(trace.ends.map((e) => e.outAxis));
    const why = refusal(v, endOps, '', { outAxis: agreedAxis, inAxis: agreed(trace.ends.map((e) => e.inAxis)) });
    if (why) { skip(v, ...why); continue; }
    const owner = owners.get(v)!;
    const outAxis = agreedAxis;
    const inAxis = agreed(trace.ends.map((e) => e.inAxis));
    const consumers: Consumer[] = [];
    for (const { node, index } of v.uses) {
      const anchor = chains.get(node)?.find((h) => h.graph === owner)?.node;
      if (!anchor) { consumers.length = 0; break; }
      consumers.push({ node, index, outAxis, inAxis, anchor: anchor === node ? undefined : anchor });
    }
    if (consumers.length === 0) { skip(v, 'subgraph', `read outside the graph that holds it`); continue; }
    consumers.sort((a, b) => order.get(a.anchor ?? a.node)! - order.get(b.anchor ?? b.node)!);
    out.set(v, { owner, consumers, via: `${trace.ops.join('→')}→${endOps.join(',')}` });
  }
  return out;
}

/**
 * An upper bound on the bytes a quantized weight takes: the packed integers, a float32
 * scale and a zero point per group (output channel, block, or one per tensor), and about
 * 64 bytes for the dequantize node and the new tensors' names. A weight whose bound is not
 * below its own bytes stays float: quantizing it cannot make the file smaller.
 */
export function quantizedBytesBound(elements: number, bits: number, groups: number): number {
  return Math.ceil((elements * bits) / 8) + groups * 5 + 64;
}

/** The one value all paths agree on, or undefined. */
function agreed(xs: readonly (number | undefined)[]): number | undefined {
  return xs.every((x) => x === xs[0]) ? xs[0] : undefined;
}

/** Coverage of a run: bytes of the weights quantized against those mc could not take. */
export interface QuantizeCoverage {
  /** float bytes of the weights that were replaced (no float copy kept). */
  compressedBytes: number;
  /** float bytes of weights left in float for a reason that is not a user's choice (dtype, op role, a float copy kept). */
  missedBytes: number;
  /** compressedBytes / (compressedBytes + missedBytes); 1 when there was nothing to take. */
  fraction: number;
}

export function coverageOf(rows: readonly { bytesBefore: number; floatKept: boolean }[], skipped: readonly SkippedTensor[]): QuantizeCoverage {
  let compressed = 0;
  let missed = 0;
  for (const r of rows) {
    if (r.floatKept) missed += r.bytesBefore;
    else compressed += r.bytesBefore;
  }
  for (const s of skipped) if (!CHOSEN_SKIPS.has(s.kind)) missed += s.bytes;
  const total = compressed + missed;
  return { compressedBytes: compressed, missedBytes: missed, fraction: total > 0 ? compressed / total : 1 };
}

function readersOf(v: Value): string {
  const ops = [...new Set(v.uses.map((u) => u.node.opType))];
  return ops.length ? ops.join(', ') : 'nodes of a subgraph';
}

/** A short label for a summary line that groups skipped weights ('3 no supported weight role, 2 excluded'). */
export function skipLabel(s: SkippedTensor): string {
  switch (s.kind) {
    case 'role': return 'no supported weight role';
    case 'too-small': return s.reason.includes('--min-elements') ? 'below --min-elements' : 'not smaller once quantized';
    case 'dtype': return s.reason;
    case 'subgraph': return 'read outside their graph';
    case 'output-check': return 'kept float by the output check';
    default: return s.kind;
  }
}

/**
 * The share of the weight bytes that mc could take (user's exclusions aside) below which a
 * run counts as partial. A run that quantizes nothing at all is partial whatever the share.
 */
export const MIN_COVERAGE = 0.9;

/** Why a quantize run did less than asked, or null when it did not: a one-line summary and one line per weight. */
export function incompleteness(report: { tensors: readonly unknown[]; skipped: readonly SkippedTensor[]; coverage: QuantizeCoverage }): { summary: string; details: string[] } | null {
  const { tensors, skipped, coverage } = report;
  if (tensors.length > 0 && coverage.fraction >= MIN_COVERAGE) return null;
  const counts = new Map<string, { n: number; bytes: number }>();
  for (const s of skipped) {
    const key = skipLabel(s);
    const c = counts.get(key) ?? { n: 0, bytes: 0 };
    c.n++;
    c.bytes += s.bytes;
    counts.set(key, c);
  }
  const why = [...counts].sort((a, b) => b[1].bytes - a[1].bytes).map(([k, c]) => `${c.n} ${k}`).join(', ');
  const pct = (coverage.fraction * 100).toFixed(0);
  const summary = tensors.length === 0
    ? `quantized no weight (${skipped.length} left in float: ${why || 'the model has no weight a registered op reads'})`
    : `quantized ${tensors.length} weight(s), ${pct}% of the float weight bytes mc could take (needs ${MIN_COVERAGE * 100}%); left in float: ${why}`;
  return { summary, details: skipped.map((s) => `${s.name}: ${s.reason}`) };
}
