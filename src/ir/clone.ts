/**
 * Model.clone(): a deep copy of the graph structure that shares tensor data.
 *
 * Copied: every Graph (subgraphs in node attributes and function bodies too),
 * Node, Value (with its producer and its uses, in the source's order), Tensor
 * object, attribute, metadata list and opset import; the format's `extra`,
 * `typeExtra`, `storage`, `signature` and `userMetadata` are deep-copied with
 * every IR object inside them (tfjs keeps Values and Nodes there) replaced by
 * its copy, so each format's encoder finds its bookkeeping pointing into the
 * clone. Shared: the bytes. A cloned Tensor is a new object over the same
 * TensorData (a zero-copy view over the model file or a shard, or the same
 * lazy external-data loader), and byte arrays inside format extras
 * (ArrayBuffer views) are shared too: they are data, never edited in place.
 * Cost is O(nodes + values + size of the format's JSON), not O(bytes).
 *
 * Copy-on-write: a pass that rewrites a weight calls Tensor.setData or writes
 * through Tensor.writableBytes()/writableFloat32(), which copy first; either
 * way the source keeps its data. Lazy external tensors of the clone read the
 * same data file as the source's: overwriting that file (saving either model
 * over its own external data) changes what the other one reads.
 */
import type { Attribute, AttributeValue, SparseTensor } from './attribute';
import { Graph } from './graph';
import { Model, type ModelFunction } from './model';
import { Node } from './node';
import { Tensor } from './tensor';
import { Value } from './value';

export function cloneModel(src: Model): Model {
  const c = new ModelCloner();
  const out = new Model(src.format, c.graph(src.graph));
  out.irVersion = src.irVersion;
  out.opsetImports = src.opsetImports.map((o) => ({ ...o }));
  out.producerName = src.producerName;
  out.producerVersion = src.producerVersion;
  out.domain = src.domain;
  out.modelVersion = src.modelVersion;
  out.docString = src.docString;
  out.metadataProps = src.metadataProps.map((p) => ({ ...p }));
  out.functions = src.functions.map((f) => c.func(f));
  c.finish();
  out.signature = c.data(src.signature);
  out.userMetadata = c.data(src.userMetadata);
  out.extra = c.data(src.extra);
  return out;
}

class ModelCloner {
  private readonly values = new Map<Value, Value>();
  private readonly nodes = new Map<Node, Node>();
  private readonly graphs = new Map<Graph, Graph>();
  private readonly tensors = new Map<Tensor, Tensor>();
  private readonly objects = new Map<object, unknown>();
  /** Format extras are copied once every IR object exists, so they can point at the copies. */
  private readonly later: (() => void)[] = [];

  graph(g: Graph): Graph {
    const out = new Graph();
    this.graphs.set(g, out);
    out.name = g.name;
    out.docString = g.docString;
    out.inputs = g.inputs.map((v) => this.value(v));
    out.initializers = g.initializers.map((v) => this.value(v));
    for (const n of g.nodes) out.addNode(this.node(n));
    out.outputs = g.outputs.map((v) => this.value(v));
    out.sparseInitializers = g.sparseInitializers.map((s) => this.sparse(s));
    out.valueInfos = g.valueInfos.map((v) => this.value(v));
    if (g.metadataProps) out.metadataProps = g.metadataProps.map((p) => ({ ...p }));
    if (g.extra !== undefined) this.later.push(() => { out.extra = this.data(g.extra); });
    return out;
  }

  func(f: ModelFunction): ModelFunction {
    const out: ModelFunction = {
      name: f.name,
      domain: f.domain,
      attributes: [...f.attributes],
      attributeDefaults: f.attributeDefaults.map((a) => this.attribute(a)),
      body: this.graph(f.body),
      opsetImports: f.opsetImports.map((o) => ({ ...o })),
    };
    if (f.overload !== undefined) out.overload = f.overload;
    if (f.docString !== undefined) out.docString = f.docString;
    if (f.metadataProps) out.metadataProps = f.metadataProps.map((p) => ({ ...p }));
    return out;
  }

  /**
   * Wires every input (in the order of each source value's uses, so passes that
   * walk `uses` see the same order) and copies the deferred format extras.
   */
  finish(): void {
    for (const [src, copy] of [...this.values]) {
      for (const u of src.uses) this.nodes.get(u.node)?.setInput(u.index, copy);
    }
    // A source input missing from its value's uses (not expected) is wired all the same.
    for (const [src, copy] of this.nodes) {
      src.inputs.forEach((v, i) => {
        const want = v ? this.value(v) : null;
        if (copy.inputs[i] !== want) copy.setInput(i, want);
      });
    }
    for (const f of this.later) f();
  }

  private value(v: Value): Value {
    const seen = this.values.get(v);
    if (seen) return seen;
    const out = new Value(v.name, { dtype: v.dtype, shape: v.shape ? [...v.shape] : undefined, const: v.const && this.tensor(v.const) });
    this.values.set(v, out);
    if (v.docString !== undefined) out.docString = v.docString;
    if (v.typeExtra !== undefined || v.extra !== undefined) {
      this.later.push(() => {
        if (v.typeExtra !== undefined) out.typeExtra = this.data(v.typeExtra);
        if (v.extra !== undefined) out.extra = this.data(v.extra);
      });
    }
    return out;
  }

  private node(n: Node): Node {
    const out = new Node({ opType: n.opType, domain: n.domain, name: n.name });
    this.nodes.set(n, out);
    if (n.docString !== undefined) out.docString = n.docString;
    if (n.overload !== undefined) out.overload = n.overload;
    if (n.metadataProps) out.metadataProps = n.metadataProps.map((p) => ({ ...p }));
    for (const a of n.attributes.values()) out.setAttribute(this.attribute(a));
    // Inputs are wired in finish(); each slot exists now, empty.
    for (const v of n.inputs) {
      if (v) this.value(v);
      out.appendInput(null);
    }
    for (const v of n.outputs) out.appendOutput(this.value(v));
    if (n.extra !== undefined) this.later.push(() => { out.extra = this.data(n.extra); });
    return out;
  }

  private tensor(t: Tensor): Tensor {
    const seen = this.tensors.get(t);
    if (seen) return seen;
    const out = t.clone();
    this.tensors.set(t, out);
    out.storage = this.data(t.storage);
    return out;
  }

  private sparse(s: SparseTensor): SparseTensor {
    return { values: this.tensor(s.values), indices: this.tensor(s.indices), dims: [...s.dims] };
  }

  private attribute(a: Attribute): Attribute {
    const out = { ...a, value: this.attributeValue(a) } as Attribute;
    if (a.extra !== undefined) this.later.push(() => { out.extra = this.data(a.extra); });
    return out;
  }

  private attributeValue(a: AttributeValue): unknown {
    switch (a.type) {
      case 'tensor': return this.tensor(a.value);
      case 'tensors': return a.value.map((t) => this.tensor(t));
      case 'graph': return this.graph(a.value);
      case 'graphs': return a.value.map((g) => this.graph(g));
      case 'sparse_tensor': return this.sparse(a.value);
      case 'sparse_tensors': return a.value.map((s) => this.sparse(s));
      case 'floats': case 'ints': case 'strings': return [...a.value];
      case 'type_proto': case 'type_protos': case 'json': return this.data(a.value);
      default: return a.value;
    }
  }

  /**
   * A deep copy of format data: IR objects become their copies (a Node or Graph
   * that is not part of the model stays shared), byte arrays are shared, other
   * objects are copied with their prototype (protobufjs messages, Long), once
   * each, so shared references and cycles survive.
   */
  data<T>(x: T): T {
    return this.copy(x) as T;
  }

  private copy(x: unknown): unknown {
    if (x === null || typeof x !== 'object') return x;
    if (x instanceof Value) return this.value(x);
    if (x instanceof Tensor) return this.tensor(x);
    if (x instanceof Node) return this.nodes.get(x) ?? x;
    if (x instanceof Graph) return this.graphs.get(x) ?? x;
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) return x;
    const seen = this.objects.get(x);
    if (seen !== undefined) return seen;
    if (Array.isArray(x)) {
      const out: unknown[] = new Array<unknown>(x.length);
      this.objects.set(x, out);
      for (let i = 0; i < x.length; i++) out[i] = this.copy(x[i]);
      return out;
    }
    if (x instanceof Map) {
      const out = new Map<unknown, unknown>();
      this.objects.set(x, out);
      for (const [k, v] of x) out.set(this.copy(k), this.copy(v));
      return out;
    }
    if (x instanceof Set) {
      const out = new Set<unknown>();
      this.objects.set(x, out);
      for (const v of x) out.add(this.copy(v));
      return out;
    }
    const out = Object.create(Object.getPrototypeOf(x) as object | null) as Record<string, unknown>;
    this.objects.set(x, out);
    for (const k of Object.keys(x)) out[k] = this.copy((x as Record<string, unknown>)[k]);
    return out;
  }
}
