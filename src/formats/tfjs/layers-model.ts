/**
 * tfjs layers-model (Keras topology) ⇄ IR.
 *
 * Each Keras layer becomes an IR Node (domain 'keras', opType = class_name,
 * attribute 'config' = the layer config JSON); InputLayers become graph
 * inputs. A layer's weights ("dense/kernel", "dense/bias") are initializers
 * feeding its node after the data inputs. The topology JSON is kept and
 * re-emitted with each layer's config taken from its node.
 */
import { Graph, Model, Node, Value, Dim, DType } from '../../ir';
import { InputError } from '../../errors';
import type { DecodedWeight, WeightToWrite } from './weights';
import { isObject, JsonObject, KerasLayerExtra, ModelJson, TfjsModelExtra } from './types';

const KERAS_DTYPES: Readonly<Record<string, DType>> = { float32: 'float32', int32: 'int32', bool: 'bool', string: 'string' };

/** The Keras model config: modelTopology itself, or modelTopology.model_config for Keras-converted files. */
function modelConfigOf(topology: JsonObject): JsonObject {
  return isObject(topology.model_config) ? topology.model_config : topology;
}

function layersOf(modelConfig: JsonObject): unknown[] {
  const c = modelConfig.config;
  if (Array.isArray(c)) return c; // Keras 1-style Sequential: config is the layer list
  return isObject(c) && Array.isArray(c.layers) ? c.layers : [];
}

function layerName(layer: JsonObject): string | undefined {
  const c = layer.config;
  if (isObject(c) && typeof c.name === 'string') return c.name;
  return typeof layer.name === 'string' ? layer.name : undefined;
}

function inputShape(config: JsonObject): Dim[] | undefined {
  const s = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(s)) return s.map((d) => (typeof d === 'number' ? d : null));
  return undefined;
}

/** References [layer, tensorIndex] of a layer's first call, in tfjs/Keras 2 list form or Keras 3 keras_history form. */
function inboundRefs(layer: JsonObject): { layer: string; index: number }[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || !nodes.length) return [];
  const refs: { layer: string; index: number }[] = [];
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) {
      if (typeof x[0] === 'string' && typeof x[1] === 'number') {
        refs.push({ layer: x[0], index: typeof x[2] === 'number' ? x[2] : 0 });
        return;
      }
      x.forEach(visit);
    } else if (isObject(x)) {
      const hist = isObject(x.config) ? x.config.keras_history : undefined;
      if (x.class_name === '__keras_tensor__' && Array.isArray(hist)) visit(hist);
      else for (const v of Object.values(x)) visit(v);
    }
  };
  visit(nodes[0]);
  return refs;
}

function ensureOutput(node: Node, index: number): Value {
  while (node.outputs.length <= index) {
    const k = node.outputs.length;
    node.appendOutput(new Value(k === 0 ? node.name : `${node.name}:${k}`));
  }
  return node.outputs[index];
}

export function decodeLayersModel(json: ModelJson, weights: DecodedWeight[], jsonPath: string): Model {
  const topology = json.modelTopology;
  if (!isObject(topology)) throw new InputError('layers-model has no modelTopology object', jsonPath);
  const mc = modelConfigOf(topology);
  const layers = layersOf(mc);
  const sequential = mc.class_name === 'Sequential';
  const graph = new Graph();
  graph.name = isObject(mc.config) && typeof mc.config.name === 'string' ? mc.config.name : '';
  const model = new Model('tfjs-layers', graph);
  const byName = new Map<string, Node | Value>();
  let previous: Value | undefined;

  for (const raw of layers) {
    if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) {
      throw new InputError(`malformed Keras layer ${JSON.stringify(raw)?.slice(0, 120)}`, jsonPath);
    }
    const name = layerName(raw);
    if (!name) throw new InputError(`Keras layer of class ${raw.class_name} has no name`, jsonPath);
    if (byName.has(name)) throw new InputError(`two Keras layers are named '${name}'`, jsonPath);
    const dtype = typeof raw.config.dtype === 'string' ? KERAS_DTYPES[raw.config.dtype] : undefined;
    if (raw.class_name === 'InputLayer') {
      const v = new Value(name, { dtype: dtype ?? 'float32', shape: inputShape(raw.config) });
      graph.inputs.push(v);
      byName.set(name, v);
      previous = v;
      continue;
    }
    const node = new Node({ opType: raw.class_name, domain: 'keras', name });
    node.setAttribute({ name: 'config', type: 'json', value: raw.config });
    const extra: KerasLayerExtra = { kind: 'keras-layer', layer: raw };
    node.extra = extra;
    if (sequential) {
      if (!previous) {
        // tfjs names the implicit input of a Sequential model `${firstLayer}_input`.
        previous = new Value(`${name}_input`, { dtype: dtype ?? 'float32', shape: inputShape(raw.config) });
        graph.inputs.push(previous);
      }
      node.appendInput(previous);
    } else {
      for (const ref of inboundRefs(raw)) {
        const src = byName.get(ref.layer);
        if (!src) throw new InputError(`layer '${name}' reads layer '${ref.layer}', which is not defined before it`, jsonPath);
        node.appendInput(src instanceof Node ? ensureOutput(src, ref.index) : src);
      }
    }
    previous = ensureOutput(node, 0);
    graph.addNode(node);
    byName.set(name, node);
  }

  // Weights belong to the layer whose name is the longest '/'-terminated prefix.
  const names = [...byName.keys()].sort((a, b) => b.length - a.length);
  const manifestOrder: Value[] = [];
  const looseWeights: Value[] = [];
  for (const w of weights) {
    const owner = names.find((n) => w.entry.name.startsWith(n + '/'));
    const item = owner ? byName.get(owner) : undefined;
    if (item instanceof Node) {
      const v = graph.addInitializer(w.entry.name, w.tensor);
      item.appendInput(v);
      manifestOrder.push(v);
    } else {
      const v = new Value(w.entry.name, { dtype: w.tensor.dtype, shape: [...w.tensor.shape], const: w.tensor });
      looseWeights.push(v);
      manifestOrder.push(v);
    }
  }

  if (sequential) {
    if (previous) graph.outputs = [previous];
  } else {
    const outs = isObject(mc.config) && Array.isArray(mc.config.output_layers) ? mc.config.output_layers : [];
    for (const o of outs) {
      if (!Array.isArray(o) || typeof o[0] !== 'string') continue;
      const src = byName.get(o[0]);
      if (!src) throw new InputError(`output layer '${o[0]}' is not defined`, jsonPath);
      graph.outputs.push(src instanceof Node ? ensureOutput(src, typeof o[2] === 'number' ? o[2] : 0) : src);
    }
  }
  model.signature = json.signature;
  model.userMetadata = json.userDefinedMetadata;
  const extra: TfjsModelExtra = { kind: 'tfjs', json: { ...json, weightsManifest: [] }, manifestOrder, looseWeights };
  model.extra = extra;
  return model;
}

function isKerasLayerExtra(x: unknown): x is KerasLayerExtra {
  return isObject(x) && x.kind === 'keras-layer';
}

/** model.json (without weightsManifest) with each layer's config taken from its node, plus the weights to write. */
export function encodeLayersModel(model: Model, extra: TfjsModelExtra): { json: ModelJson; weights: WeightToWrite[] } {
  const nodeOf = new Map<unknown, Node>();
  for (const n of model.graph.nodes) if (isKerasLayerExtra(n.extra)) nodeOf.set(n.extra.layer, n);
  const inputNames = new Set(model.graph.inputs.map((v) => v.name));
  const rewrite = (layer: unknown): unknown[] => {
    if (!isObject(layer)) return [layer];
    if (layer.class_name === 'InputLayer') return inputNames.has(layerName(layer) ?? '') ? [layer] : [];
    const node = nodeOf.get(layer);
    if (!node) return []; // the layer was removed from the graph
    const config = node.attributes.get('config');
    return [{ ...layer, config: config?.type === 'json' ? config.value : layer.config }];
  };
  const topology = extra.json.modelTopology ?? {};
  const mc = modelConfigOf(topology);
  let newMc: JsonObject;
  if (Array.isArray(mc.config)) newMc = { ...mc, config: mc.config.flatMap(rewrite) };
  else if (isObject(mc.config)) newMc = { ...mc, config: { ...mc.config, layers: layersOf(mc).flatMap(rewrite) } };
  else newMc = mc;
  const newTopology = isObject(topology.model_config) ? { ...topology, model_config: newMc } : newMc;
  const json: ModelJson = { ...extra.json, modelTopology: newTopology };

  const inits = new Set(model.graph.initializers);
  const loose = new Set(extra.looseWeights);
  const order = extra.manifestOrder.filter((v) => inits.has(v) || loose.has(v));
  const listed = new Set(order);
  for (const v of model.graph.initializers) if (!listed.has(v)) order.push(v);
  return { json, weights: order.map((v) => ({ name: v.name, tensor: v.const! })) };
}
