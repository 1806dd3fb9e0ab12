import { Node } from './node';
import type { SparseTensor } from './attribute';
import type { Tensor } from './tensor';
import { Value } from './value';

export interface MetadataProp {
  key: string;
  value: string;
}

/** Error for a graph that is not well formed (cycle, dangling value). */
export class GraphError extends Error {}

/**
 * A computation graph: inputs, outputs, nodes in topological order, and
 * initializers (Values carrying a constant Tensor). Subgraphs (If/Loop/Scan
 * bodies) are Graphs held in graph attributes; their nodes may read Values of
 * enclosing graphs.
 */
export class Graph {
  name = '';
  docString?: string;
  inputs: Value[] = [];
  outputs: Value[] = [];
  readonly nodes: Node[] = [];
  /** Values whose `const` holds the data. Order is preserved for lossless encoding. */
  initializers: Value[] = [];
  /** ONNX sparse_initializer entries, kept as data. */
  sparseInitializers: SparseTensor[] = [];
  /** Type/shape information recorded for intermediate values (ONNX value_info). */
  valueInfos: Value[] = [];
  metadataProps?: MetadataProp[];
  /** Format-specific extras kept verbatim (ONNX quantization_annotation, ...). */
  extra?: unknown;

  addNode(node: Node, before?: Node): Node {
    node.graph = this;
    if (before) {
      const i = this.nodes.indexOf(before);
      if (i < 0) throw new GraphError(`${before.describe()} is not in graph '${this.name}'`);
      this.nodes.splice(i, 0, node);
    } else {
      this.nodes.push(node);
    }
    return node;
  }

  /** Removes a node and disconnects it. Its outputs must have no remaining uses unless `force`. */
  removeNode(node: Node, force = false): void {
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new GraphError(`${node.describe()} is not in graph '${this.name}'`);
    if (!force) {
      for (const o of node.outputs) {
        if (o.uses.length) throw new GraphError(`cannot remove ${node.describe()}: output '${o.name}' still has ${o.uses.length} use(s)`);
      }
    }
    this.nodes.splice(i, 1);
    node.disconnect();
    node.graph = null;
  }

  addInitializer(name: string, tensor: Tensor): Value {
    const v = new Value(name, { dtype: tensor.dtype, shape: [...tensor.shape], const: tensor });
    this.initializers.push(v);
    return v;
  }

  removeInitializer(v: Value): void {
    const i = this.initializers.indexOf(v);
    if (i >= 0) this.initializers.splice(i, 1);
  }

  /** Every value of this graph level: inputs, initializers, node outputs. */
  *values(): Iterable<Value> {
    yield* this.inputs;
    yield* this.initializers;
    for (const n of this.nodes) yield* n.outputs;
  }

  /** All nodes, including those in nested subgraphs, depth first. */
  *allNodes(): Iterable<Node> {
    for (const n of this.nodes) {
      yield n;
      for (const a of n.attributes.values()) {
        if (a.type === 'graph') yield* a.value.allNodes();
        else if (a.type === 'graphs') for (const g of a.value) yield* g.allNodes();
      }
    }
  }

  /** A name not used by any value or node of this graph level, derived from `base`. */
  uniqueName(base: string): string {
    const taken = new Set<string>();
    for (const v of this.values()) taken.add(v.name);
    for (const v of this.valueInfos) taken.add(v.name);
    for (const n of this.nodes) taken.add(n.name);
    if (!taken.has(base)) return base;
    for (let i = 1; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
  }

  /** Reorders nodes topologically (stable: keeps the existing order where it is already valid). */
  sortTopologically(): void {
    const index = new Map<Node, number>();
    this.nodes.forEach((n, i) => index.set(n, i));
    const pending = new Map<Node, number>();
    const consumers = new Map<Node, Node[]>();
    for (const n of this.nodes) {
      const deps = new Set<Node>();
      for (const v of nodeReads(n)) {
        const p = v.producer;
        if (p && p !== n && index.has(p)) deps.add(p);
      }
      pending.set(n, deps.size);
      for (const d of deps) {
        const list = consumers.get(d) ?? [];
        list.push(n);
        consumers.set(d, list);
      }
    }
    const ready = this.nodes.filter((n) => pending.get(n) === 0);
    const order: Node[] = [];
    while (ready.length) {
      ready.sort((a, b) => index.get(a)! - index.get(b)!);
      const n = ready.shift()!;
      order.push(n);
      for (const c of consumers.get(n) ?? []) {
        const left = pending.get(c)! - 1;
        pending.set(c, left);
        if (left === 0) ready.push(c);
      }
    }
    if (order.length !== this.nodes.length) throw new GraphError(`graph '${this.name}' has a cycle`);
    this.nodes.splice(0, this.nodes.length, ...order);
  }
}

/** Values a node reads, including outer-scope values read inside its subgraphs. */
export function* nodeReads(n: Node): Iterable<Value> {
  for (const v of n.inputs) if (v) yield v;
  for (const a of n.attributes.values()) {
    const graphs = a.type === 'graph' ? [a.value] : a.type === 'graphs' ? a.value : [];
    for (const g of graphs) for (const inner of g.allNodes()) for (const v of inner.inputs) if (v) yield v;
  }
}
