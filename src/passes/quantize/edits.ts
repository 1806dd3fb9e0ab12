/**
 * Graph edits that per-op quantizers ask for. Quantizers build new Values and
 * plain NodeInit descriptions and return them; only `applyEdits` mutates the
 * graph, so planning can fail without leaving a half-rewritten model.
 */
import { Graph, Model, Node, NodeInit, Tensor, Value } from '../../ir';

export type GraphEdit =
  /** A new constant of the graph. */
  | { kind: 'addInitializer'; value: Value }
  /** A new node placed right before `before` (keeps the topological order). */
  | { kind: 'insertNode'; node: NodeInit; before: Node }
  /** Point one input of an existing node at another value (e.g. a DequantizeLinear output). */
  | { kind: 'setInput'; node: Node; index: number; value: Value }
  /** Replace a node by new ones; they may produce the old node's output Values, which keep their names. */
  | { kind: 'replaceNode'; node: Node; with: NodeInit[] }
  /** Replace a constant's data in place (tfjs stored quantization). */
  | { kind: 'updateTensor'; tensor: Tensor; apply: (t: Tensor) => void };

/** Applies edits in order. */
export function applyEdits(graph: Graph, edits: readonly GraphEdit[]): void {
  for (const e of edits) {
    switch (e.kind) {
      case 'addInitializer':
        graph.initializers.push(e.value);
        break;
      case 'insertNode':
        graph.addNode(new Node(e.node), e.before);
        break;
      case 'setInput':
        e.node.setInput(e.index, e.value);
        break;
      case 'replaceNode': {
        const at = graph.nodes.indexOf(e.node);
        const next = graph.nodes[at + 1];
        graph.removeNode(e.node, true);
        for (const init of e.with) graph.addNode(new Node(init), next);
        break;
      }
      case 'updateTensor':
        e.apply(e.tensor);
        break;
    }
  }
}

/** Drops initializers that nothing reads any more (a quantized weight's float original). */
export function removeUnusedInitializers(graph: Graph, candidates: Iterable<Value>): Value[] {
  const removed: Value[] = [];
  for (const v of candidates) {
    if (v.uses.length === 0 && !graph.outputs.includes(v) && !readInSubgraphs(graph, v)) {
      graph.removeInitializer(v);
      removed.push(v);
    }
  }
  return removed;
}

function readInSubgraphs(graph: Graph, v: Value): boolean {
  for (const n of graph.allNodes()) if (n.graph !== graph && n.inputs.includes(v)) return true;
  return false;
}

/** Hands out value/node names unused anywhere in the model (ONNX names are global across subgraphs). */
export class NameAllocator {
  private readonly taken = new Set<string>();

  constructor(model: Model) {
    const visit = (g: Graph): void => {
      for (const v of g.values()) this.taken.add(v.name);
      for (const v of g.valueInfos) this.taken.add(v.name);
      for (const n of g.nodes) {
        this.taken.add(n.name);
        for (const a of n.attributes.values()) {
          if (a.type === 'graph') visit(a.value);
          else if (a.type === 'graphs') a.value.forEach(visit);
        }
      }
    };
    visit(model.graph);
  }

  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }
}
