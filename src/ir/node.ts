import { Attribute, decodeUtf8 } from './attribute';
import type { Graph } from './graph';
import { Value } from './value';

export interface NodeInit {
  opType: string;
  domain?: string;
  name?: string;
  inputs?: (Value | null)[];
  outputs?: Value[];
  attributes?: Attribute[];
}

/** Error for a missing or mistyped attribute. */
export class AttributeError extends Error {}

/**
 * An operator application. `inputs` may hold null for omitted optional inputs
 * (ONNX empty-string input). Mutate inputs only through setInput/appendInput so
 * that Value.uses stays exact.
 */
export class Node {
  opType: string;
  /** '' is the default ONNX domain ('ai.onnx'); tfjs uses 'tf', Keras layers 'keras'. */
  domain: string;
  name: string;
  docString?: string;
  /** ONNX NodeProto.overload and similar. */
  overload?: string;
  /** Key/value metadata (ONNX NodeProto.metadata_props). */
  metadataProps?: { key: string; value: string }[];
  /** Format-specific extras kept verbatim (tfjs device, experimental debug info...). */
  extra?: unknown;
  readonly attributes = new Map<string, Attribute>();
  private readonly _inputs: (Value | null)[] = [];
  private readonly _outputs: Value[] = [];
  /** Graph that owns this node, set by Graph.addNode. */
  graph: Graph | null = null;

  constructor(init: NodeInit) {
    this.opType = init.opType;
    this.domain = init.domain ?? '';
    this.name = init.name ?? '';
    for (const v of init.inputs ?? []) this.appendInput(v);
    for (const v of init.outputs ?? []) this.appendOutput(v);
    for (const a of init.attributes ?? []) this.attributes.set(a.name, a);
  }

  get inputs(): readonly (Value | null)[] {
    return this._inputs;
  }

  get outputs(): readonly Value[] {
    return this._outputs;
  }

  setInput(index: number, v: Value | null): void {
    const old = this._inputs[index];
    if (old === v) return;
    if (old) old._removeUse(this, index);
    this._inputs[index] = v;
    if (v) v._addUse(this, index);
  }

  appendInput(v: Value | null): void {
    this._inputs.push(null);
    this.setInput(this._inputs.length - 1, v);
  }

  appendOutput(v: Value): void {
    if (v.producer) throw new Error(`value '${v.name}' already has a producer`);
    v._setProducer(this, this._outputs.length);
    this._outputs.push(v);
  }

  /** Drops all input uses and output producer links; call when removing the node. */
  disconnect(): void {
    for (let i = 0; i < this._inputs.length; i++) this.setInput(i, null);
    this._inputs.length = 0;
    for (const o of this._outputs) o._setProducer(null, -1);
    this._outputs.length = 0;
  }

  attrInt(name: string, fallback?: number): number {
    const a = this.attributes.get(name);
    if (!a) return need(this, name, fallback);
    if (a.type !== 'int') throw new AttributeError(`${this.describe()}: attribute '${name}' is ${a.type}, expected int`);
    return Number(a.value);
  }

  attrInts(name: string, fallback?: number[]): number[] {
    const a = this.attributes.get(name);
    if (!a) return need(this, name, fallback);
    if (a.type !== 'ints') throw new AttributeError(`${this.describe()}: attribute '${name}' is ${a.type}, expected ints`);
    return a.value.map(Number);
  }

  attrFloat(name: string, fallback?: number): number {
    const a = this.attributes.get(name);
    if (!a) return need(this, name, fallback);
    if (a.type !== 'float') throw new AttributeError(`${this.describe()}: attribute '${name}' is ${a.type}, expected float`);
    return a.value;
  }

  attrString(name: string, fallback?: string): string {
    const a = this.attributes.get(name);
    if (!a) return need(this, name, fallback);
    if (a.type !== 'string') throw new AttributeError(`${this.describe()}: attribute '${name}' is ${a.type}, expected string`);
    return decodeUtf8(a.value);
  }

  setAttribute(a: Attribute): void {
    this.attributes.set(a.name, a);
  }

  describe(): string {
    return `${this.domain ? this.domain + '.' : ''}${this.opType} node '${this.name}'`;
  }
}

function need<T>(node: Node, name: string, fallback: T | undefined): T {
  if (fallback === undefined) throw new AttributeError(`${node.describe()}: missing attribute '${name}'`);
  return fallback;
}
