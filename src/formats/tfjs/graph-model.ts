/**
 * tfjs graph-model (tfjs-converter output) ⇄ IR.
 *
 * Each NodeDef becomes an IR Node (domain 'tf', attributes kept as raw AttrValue
 * JSON), except Placeholders, which become graph inputs, and Consts whose value
 * is in the weights manifest, which become initializers. Inputs are wired by
 * name as tfjs-converter's OperationMapper does ("n", "n:1", "^ctrl").
 * modelTopology.library (control-flow functions), versions, modelInitializer,
 * signature and unknown keys ride along verbatim.
 */
import { Graph, Model, Node, Value } from '../../ir';
import { InputError } from '../../errors';
import { dimsOfTfShape, irDtypeOfTf, tfAttrOf, tfDtypeOf, tfShapeOf } from './tf-attr';
import type { DecodedWeight, WeightToWrite } from './weights';
import {
  isObject, JsonObject, ModelJson, TfConstExtra, TfjsModelExtra, TfNodeExtra, TfNodeJson, TfPlaceholderExtra,
} from './types';

type Item = Node | Value;

/** "name", "name:1" or "name:out:1" → node name and output index (tfjs-converter parseNodeName). */
export function parseInputName(text: string): { node: string; index: number } {
  const parts = text.split(':');
  if (parts.length === 1) return { node: text, index: 0 };
  const last = Number(parts[parts.length - 1]);
  return { node: parts[0], index: Number.isInteger(last) ? last : 0 };
}

function outputName(node: Node, index: number): string {
  return index === 0 ? node.name : `${node.name}:${index}`;
}

function ensureOutput(node: Node, index: number): Value {
  while (node.outputs.length <= index) node.appendOutput(new Value(outputName(node, node.outputs.length)));
  return node.outputs[index];
}

function checkNodeDef(nd: unknown, jsonPath: string): asserts nd is TfNodeJson {
  if (!isObject(nd) || typeof nd.name !== 'string' || typeof nd.op !== 'string'
    || (nd.input !== undefined && !(Array.isArray(nd.input) && nd.input.every((i) => typeof i === 'string')))
    || (nd.attr !== undefined && !isObject(nd.attr))) {
    throw new InputError(`malformed graph node ${JSON.stringify(nd)?.slice(0, 120)}`, jsonPath);
  }
}

export function decodeGraphModel(json: ModelJson, weights: DecodedWeight[], jsonPath: string): Model {
  const topology = json.modelTopology ?? {};
  const defs = topology.node ?? [];
  if (!Array.isArray(defs)) throw new InputError('modelTopology.node is not an array', jsonPath);
  const graph = new Graph();
  const model = new Model('tfjs-graph', graph);
  const weightOf = new Map(weights.map((w) => [w.entry.name, w]));
  const valueOfWeight = new Map<string, Value>();
  const byName = new Map<string, Item>();
  const order: Item[] = [];

  for (const nd of defs) {
    checkNodeDef(nd, jsonPath);
    if (byName.has(nd.name)) throw new InputError(`two graph nodes are named '${nd.name}'`, jsonPath);
    let item: Item;
    const w = weightOf.get(nd.name);
    if (nd.op === 'Placeholder') {
      const attr = nd.attr ?? {};
      const v = new Value(nd.name, {
        dtype: irDtypeOfTf(isObject(attr.dtype) ? attr.dtype.type : undefined),
        shape: dimsOfTfShape(isObject(attr.shape) ? attr.shape.shape : undefined),
      });
      const extra: TfPlaceholderExtra = { kind: 'tf-placeholder', node: nd };
      v.extra = extra;
      graph.inputs.push(v);
      item = v;
    } else if (nd.op === 'Const' && w && !valueOfWeight.has(nd.name)) {
      const v = graph.addInitializer(nd.name, w.tensor);
      const extra: TfConstExtra = { kind: 'tf-const', node: nd };
      v.extra = extra;
      valueOfWeight.set(nd.name, v);
      item = v;
    } else {
      const node = new Node({ opType: nd.op, domain: 'tf', name: nd.name });
      for (const [k, raw] of Object.entries(nd.attr ?? {})) node.setAttribute({ name: k, type: 'json', value: raw });
      ensureOutput(node, 0);
      graph.addNode(node);
      item = node;
    }
    byName.set(nd.name, item);
    order.push(item);
  }

  const children = new Map<string, number>();
  for (const nd of defs as TfNodeJson[]) {
    const item = byName.get(nd.name)!;
    const spellings: TfNodeExtra['spellings'] = [];
    const controlInputs: string[] = [];
    for (const text of nd.input ?? []) {
      const isControl = text.startsWith('^');
      const ref = parseInputName(isControl ? text.slice(1) : text);
      const src = byName.get(ref.node);
      if (!src) throw new InputError(`node '${nd.name}' reads '${text}', but no node has that name`, jsonPath);
      children.set(ref.node, (children.get(ref.node) ?? 0) + 1);
      if (!(item instanceof Node)) continue; // Placeholder/Const inputs stay in their NodeDef
      if (isControl) {
        controlInputs.push(ref.node);
        continue;
      }
      const value = src instanceof Node ? ensureOutput(src, ref.index) : src;
      if (!(src instanceof Node) && ref.index !== 0) throw new InputError(`node '${nd.name}' reads output ${ref.index} of '${ref.node}', which has one output`, jsonPath);
      item.appendInput(value);
      spellings.push({ value, text });
    }
    if (item instanceof Node) {
      const extra: TfNodeExtra = { kind: 'tf-node', def: nd, spellings, controlInputs };
      item.extra = extra;
    }
  }

  graph.outputs = graphOutputs(json, byName, children, defs as TfNodeJson[]);

  const manifestOrder: Value[] = [];
  const looseWeights: Value[] = [];
  for (const w of weights) {
    let v = valueOfWeight.get(w.entry.name);
    if (!v) {
      v = new Value(w.entry.name, { dtype: w.tensor.dtype, shape: [...w.tensor.shape], const: w.tensor });
      looseWeights.push(v);
    }
    manifestOrder.push(v);
  }
  model.signature = json.signature;
  model.userMetadata = json.userDefinedMetadata;
  const kept: ModelJson = { ...json, modelTopology: { ...topology, node: [] }, weightsManifest: [] };
  const extra: TfjsModelExtra = { kind: 'tfjs', json: kept, nodeOrder: order, manifestOrder, looseWeights };
  model.extra = extra;
  return model;
}

/** Signature outputs when the model has them, else every node nothing reads (tfjs-converter's rule). */
function graphOutputs(json: ModelJson, byName: Map<string, Item>, children: Map<string, number>, defs: TfNodeJson[]): Value[] {
  const sigOut = isObject(json.signature) && isObject(json.signature.outputs) ? json.signature.outputs : undefined;
  const out: Value[] = [];
  if (sigOut && Object.keys(sigOut).length) {
    for (const entry of Object.values(sigOut)) {
      const name = isObject(entry) && typeof entry.name === 'string' ? entry.name : undefined;
      if (!name) continue;
      const ref = parseInputName(name);
      const item = byName.get(ref.node);
      if (item instanceof Node) out.push(ensureOutput(item, ref.index));
      else if (item) out.push(item);
    }
    return out;
  }
  for (const nd of defs) {
    const item = byName.get(nd.name);
    if (item instanceof Node && !children.get(nd.name)) out.push(item.outputs[0]);
  }
  return out;
}

/** The name by which a NodeDef input refers to `v`. */
function refOf(v: Value): string {
  const p = v.producer;
  return p ? outputName(p, v.producerIndex) : v.name;
}

function encodeNode(node: Node, written: Set<string>): TfNodeJson {
  const extra = isTfNodeExtra(node.extra) ? node.extra : undefined;
  const input: string[] = node.inputs.map((v, i) => {
    if (!v) throw new InputError(`${node.describe()} has an empty input ${i}; tfjs graph nodes cannot skip inputs`);
    const s = extra?.spellings[i];
    return s && s.value === v ? s.text : refOf(v);
  });
  for (const c of extra?.controlInputs ?? []) if (written.has(c)) input.push(`^${c}`);
  const attr: Record<string, unknown> = {};
  for (const a of node.attributes.values()) attr[a.name] = tfAttrOf(a);
  // Keep the NodeDef's key order and its keys with no IR field (device, experimentalDebugInfo...).
  const def: Partial<TfNodeJson> = extra?.def ?? {};
  const out = { ...def, name: node.name, op: node.opType } as TfNodeJson;
  if (input.length || 'input' in def) out.input = input;
  if (node.attributes.size || 'attr' in def) out.attr = attr;
  return out;
}

function isTfNodeExtra(x: unknown): x is TfNodeExtra {
  return isObject(x) && x.kind === 'tf-node';
}

function sameShape(a: unknown, shape: readonly number[]): boolean {
  const dims = dimsOfTfShape(a);
  return dims !== undefined && dims.length === shape.length && dims.every((d, i) => d === shape[i]);
}

/** The Const NodeDef of a weight: the one read, with dtype/shape rewritten only where the tensor changed. */
function encodeConst(v: Value): TfNodeJson {
  const t = v.const!;
  const tfType = tfDtypeOf(t.dtype === 'float16' ? 'float32' : t.dtype);
  const base = isObject(v.extra) && v.extra.kind === 'tf-const' ? (v.extra as unknown as TfConstExtra).node : undefined;
  const attr: JsonObject = { ...(base?.attr ?? {}) };
  const value = isObject(attr.value) && isObject(attr.value.tensor) ? attr.value.tensor : undefined;
  if (!value || value.dtype !== tfType || !sameShape(value.tensorShape, t.shape)) {
    attr.value = { ...(isObject(attr.value) ? attr.value : {}), tensor: { ...(value ?? {}), dtype: tfType, tensorShape: tfShapeOf(t.shape) } };
  }
  if (!isObject(attr.dtype) || attr.dtype.type !== tfType) attr.dtype = { type: tfType };
  return { ...(base ?? { name: v.name, op: 'Const' }), name: v.name, attr };
}

function encodePlaceholder(v: Value): TfNodeJson {
  const base = isObject(v.extra) && v.extra.kind === 'tf-placeholder' ? (v.extra as unknown as TfPlaceholderExtra).node : undefined;
  if (base) return { ...base, name: v.name };
  const attr: JsonObject = {};
  if (v.dtype) attr.dtype = { type: tfDtypeOf(v.dtype) };
  if (v.shape) attr.shape = { shape: { dim: v.shape.map((d) => ({ size: String(typeof d === 'number' ? d : -1) })) } };
  return { name: v.name, op: 'Placeholder', attr };
}

/**
 * Emission order: the original node order for everything still present; a
 * new node right after its predecessor in Graph.nodes; new inputs and new
 * weights at the front (tfjs resolves inputs by name, so order is cosmetic,
 * but an unchanged model must come back as it was).
 */
function emissionOrder(graph: Graph, original: readonly Item[]): Item[] {
  const present = new Set<Item>([...graph.inputs, ...graph.initializers, ...graph.nodes]);
  const kept = original.filter((x) => present.has(x));
  const placed = new Set<Item>(kept);
  const after = new Map<Item | null, Item[]>();
  const push = (anchor: Item | null, x: Item): void => {
    const list = after.get(anchor) ?? [];
    list.push(x);
    after.set(anchor, list);
  };
  for (const v of graph.inputs) if (!placed.has(v)) push(null, v);
  for (const v of graph.initializers) if (!placed.has(v)) push(null, v);
  graph.nodes.forEach((n, i) => {
    if (!placed.has(n)) push(i > 0 ? graph.nodes[i - 1] : null, n);
  });
  const out: Item[] = [];
  const emit = (x: Item | null): void => {
    if (x) out.push(x);
    for (const y of after.get(x) ?? []) emit(y);
  };
  emit(null);
  for (const x of kept) emit(x);
  return out;
}

/** The model.json (without weightsManifest) and the weights to write, in manifest order. */
export function encodeGraphModel(model: Model, extra: TfjsModelExtra): { json: ModelJson; weights: WeightToWrite[] } {
  const graph = model.graph;
  const items = emissionOrder(graph, extra.nodeOrder ?? []);
  const written = new Set<string>(items.map((x) => x.name));
  const nodes = items.map((x) => {
    if (x instanceof Node) return encodeNode(x, written);
    return x.const ? encodeConst(x) : encodePlaceholder(x);
  });
  const json: ModelJson = { ...extra.json, modelTopology: { ...(extra.json.modelTopology ?? {}), node: nodes } };
  const inits = new Set(graph.initializers);
  const loose = new Set(extra.looseWeights);
  const order = extra.manifestOrder.filter((v) => inits.has(v) || loose.has(v));
  const listed = new Set(order);
  for (const v of graph.initializers) if (!listed.has(v)) order.push(v);
  for (const v of extra.looseWeights) if (!listed.has(v)) order.push(v);
  return { json, weights: order.map((v) => ({ name: v.name, tensor: v.const! })) };
}
