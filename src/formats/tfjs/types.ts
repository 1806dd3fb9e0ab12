/**
 * The on-disk shapes of a TensorFlow.js model.json, as far as mc reads them.
 * Mirrors tfjs-core's io/types.ts (ModelJSON, WeightsManifestConfig); every
 * object keeps its unknown keys because they are re-written verbatim.
 */
import type { Node, Value } from '../../ir';

export type JsonObject = { [key: string]: unknown };

/** Stored quantization of one manifest entry (tfjs-core WeightsManifestEntry.quantization). */
export interface TfjsQuantizationJson {
  dtype: 'uint8' | 'uint16' | 'float16';
  min?: number;
  scale?: number;
  /** Written by older tfjs-converter versions; the logical dtype then also sits here. */
  original_dtype?: string;
  [key: string]: unknown;
}

export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: TfjsQuantizationJson;
  group?: string;
  [key: string]: unknown;
}

export interface WeightsManifestGroup {
  paths: string[];
  weights: WeightsManifestEntry[];
  [key: string]: unknown;
}

/** A graph-model node (tensorflow NodeDef in protobuf JSON). */
export interface TfNodeJson {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
  device?: string;
  [key: string]: unknown;
}

export interface ModelJson {
  modelTopology?: JsonObject;
  weightsManifest?: WeightsManifestGroup[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
  initializerSignature?: unknown;
  trainingConfig?: unknown;
  [key: string]: unknown;
}

/**
 * What a loaded tfjs Model keeps in `Model.extra`: model.json itself (with
 * `weightsManifest` emptied, and for graph models `modelTopology.node` emptied),
 * so unknown keys and key order survive a re-save, plus the bookkeeping the
 * encoders need to rebuild the node list.
 */
export interface TfjsModelExtra {
  kind: 'tfjs';
  json: ModelJson;
  /** Graph models: the original node order, as the IR objects that now stand for each NodeDef. */
  nodeOrder?: (Node | Value)[];
  /** Manifest order of the weights as read, so an unchanged model is written with the same manifest. */
  manifestOrder: Value[];
  /**
   * Manifest weights that no top-level Const node or Keras layer claims
   * (constants of library functions, for instance). Kept as Values so their
   * data round-trips; they are not graph initializers.
   */
  looseWeights: Value[];
}

/** Node.extra of a graph-model node: the NodeDef as read (for key order and keys with no IR field), plus input spellings. */
export interface TfNodeExtra {
  kind: 'tf-node';
  /** The NodeDef as read; name/op/input/attr are rewritten from the IR on encode, other keys (device...) copied. */
  def: TfNodeJson;
  /** How each data input was spelled ("x", "x:0"), reused while that input slot still reads the same Value. */
  spellings: { value: Value | null; text: string }[];
  /** Control inputs without the '^' (TF lists them after the data inputs); kept while a node of that name is written. */
  controlInputs: string[];
}

/** Value.extra of a weight that came from a Const node: the NodeDef, re-emitted with current dtype/shape. */
export interface TfConstExtra {
  kind: 'tf-const';
  node: TfNodeJson;
}

/** Value.extra of a graph input that came from a Placeholder node. */
export interface TfPlaceholderExtra {
  kind: 'tf-placeholder';
  node: TfNodeJson;
}

/** Node.extra of a Keras layer. */
export interface KerasLayerExtra {
  kind: 'keras-layer';
  /** The layer JSON with its config (the config itself lives in the 'config' attribute). */
  layer: JsonObject;
}

export function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
