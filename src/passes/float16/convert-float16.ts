/**
 * float32 → float16 conversion of an ONNX model: weights and compute, in the
 * manner of onnxconverter-common's convert_float_to_float16, with the Cast
 * placement done once per boundary.
 *
 *  - Every node computes in float16 unless it is blocked (block-list.ts: ops
 *    that are numerically unsafe in float16, integer and random ops, ops
 *    outside the default domain, and the user's --fp16-block-ops). Control
 *    flow (If/Loop/Scan) is never blocked; its bodies are converted node by node.
 *  - A float32 value keeps the type its producer gives it: float16 from a
 *    converted node, float32 from a blocked one. Where a consumer wants the
 *    other type, one Cast per (value, type) is inserted in the value's own
 *    graph, right after its producer, and shared by every consumer, including
 *    those inside subgraphs (they read it from the enclosing scope).
 *  - Constants (initializers and `Constant` nodes, in every subgraph) are
 *    stored in float16. Only a small one (< SMALL_CONSTANT elements) that every
 *    consumer reads in float32 (Range bounds, Resize scales) stays float32; a
 *    large one read in float32 is stored in float16 and widened by a Cast,
 *    which onnxruntime folds when the session loads, so the file halves.
 *  - A constant that float16 cannot hold (some |x| > 65504, e.g. a
 *    BatchNormalization variance of 1e8 in PP-OCRv4 det) stays float32, and so
 *    does every node that reads it: clamping it changed that model's output
 *    completely (−135 dB). Nonzero values that round to zero in float16 are
 *    counted in the report.
 *  - Graph inputs and outputs become float16, or with keepIoTypes the main
 *    graph's stay float32 with Casts inside; output names never change.
 *    Subgraph inputs and outputs are float16, matching their node's.
 *  - Cast(to FLOAT), EyeLike(dtype FLOAT) and ConstantOfShape's value in
 *    converted nodes are switched to float16. A Cast(to FLOAT) of a value that
 *    is already float16 is the model's own boundary and stays, so an already
 *    half model (ISNet's, with float32 inputs and outputs) is left alone.
 */
import { Graph, Model, Node, Tensor, Value, floatToHalf, halfToFloat, intAttr } from '../../ir';
import { UnsupportedError } from '../../errors';
import type { Pass, PassContext, PassResult } from '../pass';
import { NameAllocator } from '../quantize/edits';
import { blockList, CONTROL_FLOW, float32Inputs } from './block-list';
import { inferTypes, TypeMap } from './value-types';

export interface Float16Options {
  /** Keep the main graph's float32 inputs and outputs in float32 (Casts at the boundary). */
  keepIoTypes: boolean;
  /** Op types kept in float32 besides the default block list. */
  blockOps: string[];
  /** Node names kept in float32. */
  blockNodes: string[];
}

export interface Float16Report {
  /** Nodes with float inputs or outputs that now compute in float16. */
  nodesConverted: number;
  /** Nodes with float inputs or outputs kept in float32, per op type and reason. */
  kept: { opType: string; nodes: number; reason: string }[];
  castsInserted: number;
  /** Float32 constants (initializers and Constant nodes) now stored in float16, and their bytes before and after. */
  constantsConverted: number;
  constantBytesBefore: number;
  constantBytesAfter: number;
  /** Small float32 constants read only in float32, left as they were. */
  constantsKeptFloat32: number;
  /** Nonzero constant values that became zero in float16. */
  flushedToZero: number;
  keepIoTypes: boolean;
}

/** Constants below this many elements that are read only in float32 stay float32 (they are not weights). */
export const SMALL_CONSTANT = 1024;

const HALF_MAX = 65504;
const ONNX_FLOAT = 1;
const ONNX_FLOAT16 = 10;

export function defaultFloat16Options(): Float16Options {
  return { keepIoTypes: false, blockOps: [], blockNodes: [] };
}

export function convertFloat16Pass(opts: Float16Options): Pass<Float16Report> {
  return { name: 'float16', run: (model, ctx) => convertFloat16(model, opts, ctx) };
}

type Precision = 'float32' | 'float16';

export function convertFloat16(model: Model, opts: Float16Options, ctx?: PassContext): PassResult<Float16Report> {
  if (model.format !== 'onnx') throw new UnsupportedError('float16 conversion needs an ONNX model (tfjs stores float16 with mc quantize --tfjs-dtype float16)');
  const c = new Converter(model, opts);
  c.run();
  const modified = c.report.nodesConverted > 0 || c.report.constantsConverted > 0;
  if (modified && ctx) {
    model.setMetadata('mc.version', ctx.toolVersion);
    model.setMetadata('mc.float16', JSON.stringify({ keepIoTypes: opts.keepIoTypes, blockOps: opts.blockOps, blockNodes: opts.blockNodes }));
  }
  return { modified, changes: c.report };
}

class Converter {
  readonly report: Float16Report;
  private readonly blocked: Map<string, string>;
  private readonly types: TypeMap;
  private readonly names: NameAllocator;
  /** graph → value → target type → the Cast's output there. */
  private readonly casts = new Map<Graph, Map<Value, Map<Precision, Value>>>();
  private readonly keptCounts = new Map<string, { opType: string; nodes: number; reason: string }>();
  /** float32 constants with values beyond float16's range, with their largest |x|. */
  private readonly outOfRange = new Map<Value, number>();
  /** Nodes kept float32 because they sit wholly between float32 values (keepFloat32Islands). */
  private readonly islands = new Set<Node>();

  constructor(private readonly model: Model, private readonly opts: Float16Options) {
    this.blocked = blockList(opts.blockOps);
    this.types = inferTypes(model.graph);
    this.names = new NameAllocator(model);
    this.report = {
      nodesConverted: 0, kept: [], castsInserted: 0, constantsConverted: 0, constantBytesBefore: 0, constantBytesAfter: 0,
      constantsKeptFloat32: 0, flushedToZero: 0, keepIoTypes: opts.keepIoTypes,
    };
  }

  run(): void {
    const graphs = [...graphsOf(this.model.graph)];
    for (const g of graphs) {
      if (g.sparseInitializers.some((s) => s.values.dtype === 'float32')) {
        throw new UnsupportedError(`graph '${g.name}' has a float32 sparse initializer; float16 conversion does not rewrite sparse tensors`);
      }
    }
    for (const g of graphs) for (const v of g.values()) this.checkRange(v);
    this.keepFloat32Islands(graphs);
    // Decide every node's precision and every value's type before rewriting anything.
    for (const g of graphs) for (const n of g.nodes) this.countNode(n);
    for (const g of graphs) this.convertGraph(g, g === this.model.graph);
    this.report.kept = [...this.keptCounts.values()].sort((a, b) => b.nodes - a.nodes);
  }

  private isFloat(v: Value | null): v is Value {
    return v !== null && this.types.get(v) === 'float32';
  }

  /**
   * Nodes that would compute in float16 only to have every result cast back to
   * float32: all their float inputs are float32 already (shape arithmetic cast
   * from int64, values from float32 ops, small constants) and all their float
   * outputs are read only in float32 (Resize scales, blocked ops). They stay
   * float32, which saves two Casts each and keeps that arithmetic exact; found
   * by growing the set until nothing changes.
   */
  private keepFloat32Islands(graphs: Graph[]): void {
    const outputOf = new Map<Value, boolean>();
    for (const g of graphs) {
      const ioFloat32 = g === this.model.graph && this.opts.keepIoTypes;
      for (const v of g.outputs) outputOf.set(v, ioFloat32);
    }
    const isFloat32Source = (v: Value): boolean => {
      const p = v.producer;
      if (p && p.opType !== 'Constant') return this.precisionOf(p) === 'float32';
      if (v.const || p) return constantSize(v) < SMALL_CONSTANT || this.outOfRange.has(v);
      // A graph input: float32 only for the main graph's inputs under keepIoTypes (subgraph inputs are float16).
      return this.opts.keepIoTypes && this.model.graph.inputs.includes(v);
    };
    for (let changed = true; changed;) {
      changed = false;
      for (const g of graphs) {
        for (const n of g.nodes) {
          if (this.islands.has(n) || n.opType === 'Constant' || this.precisionOf(n) === 'float32') continue;
          if (CONTROL_FLOW.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx')) continue;
          const outs = n.outputs.filter((v) => this.isFloat(v));
          if (outs.length === 0) continue;
          const outsFloat32 = outs.every((v) => (outputOf.get(v) ?? true) && v.uses.every((u) => this.wantAt(u.node, u.index) !== 'float16'));
          if (!outsFloat32 || !n.inputs.every((v) => !this.isFloat(v) || isFloat32Source(v))) continue;
          this.islands.add(n);
          changed = true;
        }
      }
    }
  }

  /** Why `n` stays float32, or undefined when it computes in float16. */
  private blockReason(n: Node): string | undefined {
    if (CONTROL_FLOW.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx')) return undefined;
    if (n.domain !== '' && n.domain !== 'ai.onnx') return `op of domain '${n.domain}'`;
    const r = this.blocked.get(n.opType);
    if (r) return r;
    if (n.name && this.opts.blockNodes.includes(n.name)) return 'in --fp16-block-nodes';
    if (n.opType === 'Constant' && n.attributes.has('sparse_value')) return 'sparse Constant';
    if (this.islands.has(n)) return 'reads and feeds only float32 (no Casts needed)';
    if (n.opType === 'Cast' && this.isWideningCast(n)) return 'a Cast from a 16-bit float the model already has (its own float32 boundary)';
    for (const v of n.inputs) {
      const max = v ? this.outOfRange.get(v) : undefined;
      if (max !== undefined) return `reads a constant beyond float16's range (|x| up to ${max.toPrecision(3)})`;
    }
    return undefined;
  }

  private checkRange(v: Value): void {
    if (!this.isFloat(v)) return;
    const t = v.const ?? constantNodeTensor(v);
    if (!t || t.dtype !== 'float32') return;
    let max = 0;
    for (const x of t.toFloat32()) if (Math.abs(x) > max) max = Math.abs(x);
    if (max > HALF_MAX) this.outOfRange.set(v, max);
  }

  /** Cast(to FLOAT) of a float16/bfloat16 value: a boundary the model chose (an already half model's float32 outputs). */
  private isWideningCast(n: Node): boolean {
    const from = n.inputs[0] ? this.types.get(n.inputs[0]) : undefined;
    return n.attrInt('to', 0) === ONNX_FLOAT && (from === 'float16' || from === 'bfloat16');
  }

  private precisionOf(n: Node): Precision {
    return this.blockReason(n) === undefined ? 'float16' : 'float32';
  }

  private countNode(n: Node): void {
    // Inputs that are float32 by their type constraint (Resize scales) do not make a node a float32 computation.
    const fixed = float32Inputs(n);
    const touchesFloat = n.inputs.some((v, i) => this.isFloat(v) && !fixed.includes(i)) || n.outputs.some((v) => this.isFloat(v));
    // A Cast changes only when it casts to FLOAT; one to another type is left as it is.
    const untouchedCast = n.opType === 'Cast' && n.attrInt('to', 0) !== ONNX_FLOAT;
    if (!touchesFloat || n.opType === 'Constant' || untouchedCast) return;
    const reason = this.blockReason(n);
    if (reason === undefined) {
      this.report.nodesConverted++;
      return;
    }
    const key = `${n.opType}\0${reason}`;
    const k = this.keptCounts.get(key) ?? { opType: n.opType, nodes: 0, reason };
    k.nodes++;
    this.keptCounts.set(key, k);
  }

  /** The type a use wants its float input in; 'any' for a Cast's input, which takes every type. */
  private wantAt(node: Node, index: number): Precision | 'any' {
    if (index === 0 && (node.opType === 'Cast' || node.opType === 'CastLike') && (node.domain === '' || node.domain === 'ai.onnx')) return 'any';
    if (this.precisionOf(node) === 'float32') return 'float32';
    return float32Inputs(node).includes(index) ? 'float32' : 'float16';
  }

  private convertGraph(g: Graph, isMain: boolean): void {
    const ioType: Precision = isMain && this.opts.keepIoTypes ? 'float32' : 'float16';
    const values: Value[] = [...g.inputs, ...g.initializers];
    const nodes = [...g.nodes];
    for (const n of nodes) values.push(...n.outputs);
    const homes = new Map<Value, Precision>();
    for (const v of values) {
      if (!this.isFloat(v)) continue;
      const home = this.homeOf(v, g, ioType);
      homes.set(v, home);
      if (v.const && home === 'float16') this.convertConstant(v.const, (t) => { v.const = t; });
      else if (v.const) this.report.constantsKeptFloat32++;
      const p = v.producer;
      if (p?.opType === 'Constant') {
        if (home === 'float16') this.convertConstantNode(p);
        else this.report.constantsKeptFloat32++;
      }
      if (v.dtype !== undefined) v.dtype = home;
    }
    for (const n of nodes) if (this.precisionOf(n) === 'float16') this.retypeAttributes(n);
    // Casts for consumers (here and in nested subgraphs) that want the other type, made in the value's own
    // graph so that every consumer, at any depth, shares one Cast per direction.
    for (const [v, home] of homes) {
      for (const use of [...v.uses]) {
        const want = this.wantAt(use.node, use.index);
        if (want !== 'any' && want !== home) use.node.setInput(use.index, this.castIn(v, want, g));
      }
    }
    // Graph outputs in the type the graph's interface needs.
    g.outputs.forEach((v, i) => {
      if (!this.isFloat(v)) return;
      const home = homes.get(v) ?? this.homeOf(v, g, ioType);
      if (home !== ioType) g.outputs[i] = this.castOut(v, ioType, g, isMain);
    });
  }

  /** The type a float32 value takes after conversion (see the header). */
  private homeOf(v: Value, g: Graph, ioType: Precision): Precision {
    const p = v.producer;
    if (v.const || p?.opType === 'Constant') {
      if ((p && this.precisionOf(p) === 'float32') || this.outOfRange.has(v)) return 'float32';
      const readHalf = v.uses.some((u) => this.wantAt(u.node, u.index) === 'float16') || (g.outputs.includes(v) && ioType === 'float16');
      return readHalf || constantSize(v) >= SMALL_CONSTANT ? 'float16' : 'float32';
    }
    if (g.inputs.includes(v)) return ioType;
    if (p) return this.precisionOf(p);
    return 'float16';
  }

  private convertConstant(t: Tensor, replace: (t: Tensor) => void): void {
    const bytes = this.halfBytes(t.toFloat32());
    this.report.constantsConverted++;
    this.report.constantBytesBefore += t.byteLength;
    this.report.constantBytesAfter += bytes.byteLength;
    if (t.dtype === 'float32') t.setData('float16', [...t.shape], { kind: 'bytes', bytes });
    else replace(Tensor.fromBytes('float16', [...t.shape], bytes, t.name));
  }

  private convertConstantNode(n: Node): void {
    const value = n.attributes.get('value');
    if (value?.type === 'tensor') {
      if (value.value.dtype === 'float32') this.convertConstant(value.value, () => {});
      return;
    }
    const f = n.attributes.get('value_float') ?? n.attributes.get('value_floats');
    if (!f) return;
    const data = Float32Array.from(f.type === 'float' ? [f.value] : f.type === 'floats' ? f.value : []);
    const shape = f.type === 'float' ? [] : [data.length];
    const bytes = this.halfBytes(data);
    this.report.constantsConverted++;
    this.report.constantBytesBefore += data.byteLength;
    this.report.constantBytesAfter += bytes.byteLength;
    n.attributes.delete(f.name);
    n.setAttribute({ name: 'value', type: 'tensor', value: Tensor.fromBytes('float16', shape, bytes, '') });
  }

  /** float16 bytes of `src` (in range: checkRange kept the others float32), counting values that round to zero. */
  private halfBytes(src: Float32Array): Uint8Array {
    const out = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const x = src[i];
      const h = floatToHalf(x);
      if (x !== 0 && halfToFloat(h) === 0) this.report.flushedToZero++;
      out[i] = h;
    }
    return new Uint8Array(out.buffer);
  }

  /** Type-carrying attributes of a node that now computes in float16. */
  private retypeAttributes(n: Node): void {
    if (n.domain !== '' && n.domain !== 'ai.onnx') return;
    if (n.opType === 'Cast' && n.attrInt('to', 0) === ONNX_FLOAT) n.setAttribute(intAttr('to', ONNX_FLOAT16));
    if (n.opType === 'EyeLike' && n.attributes.has('dtype') && n.attrInt('dtype') === ONNX_FLOAT) n.setAttribute(intAttr('dtype', ONNX_FLOAT16));
    if (n.opType === 'ConstantOfShape' && this.isFloat(n.outputs[0])) {
      const a = n.attributes.get('value');
      const v = a?.type === 'tensor' ? a.value.toFloat32() : new Float32Array(1);
      n.setAttribute({ name: 'value', type: 'tensor', value: Tensor.fromBytes('float16', [1], this.halfBytes(v), '') });
    }
  }

  /** The Cast of `v` (a value of `g`) to `to`, made once and shared. */
  private castIn(v: Value, to: Precision, g: Graph): Value {
    let byValue = this.casts.get(g);
    if (!byValue) this.casts.set(g, (byValue = new Map()));
    let byType = byValue.get(v);
    if (!byType) byValue.set(v, (byType = new Map()));
    const made = byType.get(to);
    if (made) return made;
    const out = new Value(this.names.fresh(`${v.name}_${to}`), { dtype: to, shape: v.shape ? [...v.shape] : undefined });
    const p = v.producer;
    const before = p && p.graph === g ? g.nodes[g.nodes.indexOf(p) + 1] : g.nodes[0];
    g.addNode(this.castNode(v, out, to), before);
    byType.set(to, out);
    return out;
  }

  /**
   * A graph output in type `to`. In the main graph the output keeps its name
   * (the value computed inside is renamed); a subgraph output's name is free.
   */
  private castOut(v: Value, to: Precision, g: Graph, isMain: boolean): Value {
    let name = this.names.fresh(`${v.name}_${to === 'float16' ? 'float32' : 'float16'}`);
    if (isMain) {
      const keep = v.name;
      v.name = name;
      name = keep;
    }
    const out = new Value(name, { dtype: to, shape: v.shape ? [...v.shape] : undefined });
    out.docString = v.docString;
    g.addNode(this.castNode(v, out, to));
    return out;
  }

  private castNode(from: Value, to: Value, type: Precision): Node {
    this.report.castsInserted++;
    return new Node({
      opType: 'Cast', name: this.names.fresh(`${from.name}_Cast_${type}`), inputs: [from], outputs: [to],
      attributes: [intAttr('to', type === 'float16' ? ONNX_FLOAT16 : ONNX_FLOAT)],
    });
  }
}

/** The main graph and every nested subgraph, outer first. */
function* graphsOf(g: Graph): Iterable<Graph> {
  yield g;
  for (const n of g.nodes) {
    for (const a of n.attributes.values()) {
      if (a.type === 'graph') yield* graphsOf(a.value);
      else if (a.type === 'graphs') for (const sub of a.value) yield* graphsOf(sub);
    }
  }
}

function constantNodeTensor(v: Value): Tensor | undefined {
  const p = v.producer;
  if (p?.opType !== 'Constant') return undefined;
  const a = p.attributes.get('value');
  return a?.type === 'tensor' ? a.value : undefined;
}

/** Elements of an initializer or of a Constant node's value. */
function constantSize(v: Value): number {
  if (v.const) return v.const.size;
  const a = v.producer?.attributes.get('value');
  if (a?.type === 'tensor') return a.value.size;
  const f = v.producer?.attributes.get('value_floats');
  return f?.type === 'floats' ? f.value.length : 1;
}
