import type { Attribute } from './attribute';
import { cloneModel } from './clone';
import { Graph, MetadataProp } from './graph';
import type { Value } from './value';

export type ModelFormat = 'onnx' | 'tfjs-graph' | 'tfjs-layers';

export interface OpsetImport {
  domain: string;
  version: number;
}

/** A model-local function (ONNX FunctionProto). Its body is a Graph whose inputs/outputs are the formal parameters. */
export interface ModelFunction {
  name: string;
  domain: string;
  overload?: string;
  /** Formal attribute names without defaults. */
  attributes: string[];
  /** Attributes with default values. */
  attributeDefaults: Attribute[];
  body: Graph;
  opsetImports: OpsetImport[];
  docString?: string;
  metadataProps?: MetadataProp[];
}

/**
 * A whole model, format-neutral. Format-specific parts with no IR meaning
 * (ONNX training_info, tfjs model.json keys) ride in `extra`, owned by the format.
 */
export class Model {
  format: ModelFormat;
  graph: Graph;
  irVersion?: number;
  opsetImports: OpsetImport[] = [];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: bigint;
  docString?: string;
  metadataProps: MetadataProp[] = [];
  functions: ModelFunction[] = [];
  /** tfjs: the serving signature (inputs/outputs with names, dtypes, shapes). */
  signature?: unknown;
  /** tfjs: model.json userDefinedMetadata. */
  userMetadata?: Record<string, unknown>;
  extra?: unknown;

  constructor(format: ModelFormat, graph = new Graph()) {
    this.format = format;
    this.graph = graph;
  }

  opsetVersion(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version;
  }

  /** Sets (or raises) an opset import; never lowers one. */
  requireOpset(domain: string, version: number): void {
    const d = domain === 'ai.onnx' ? '' : domain;
    const o = this.opsetImports.find((x) => (x.domain === 'ai.onnx' ? '' : x.domain) === d);
    if (!o) this.opsetImports.push({ domain: d, version });
    else if (o.version < version) o.version = version;
  }

  setMetadata(key: string, value: string): void {
    const p = this.metadataProps.find((m) => m.key === key);
    if (p) p.value = value;
    else this.metadataProps.push({ key, value });
  }

  /**
   * A copy whose graph can be rewritten without touching this model, sharing
   * the tensor bytes copy-on-write: O(nodes), not O(bytes). See clone.ts.
   */
  clone(): Model {
    return cloneModel(this);
  }

  /** All constant values (weights) of the main graph and nested subgraphs. */
  *weights(): Iterable<Value> {
    yield* this.graph.initializers;
    for (const n of this.graph.allNodes()) {
      for (const a of n.attributes.values()) {
        if (a.type === 'graph') yield* a.value.initializers;
        else if (a.type === 'graphs') for (const g of a.value) yield* g.initializers;
      }
    }
  }
}
