import type { DType } from './dtype';
import type { Node } from './node';
import type { Tensor } from './tensor';

/** A dimension: a fixed size, a symbolic name, or null when unknown. */
export type Dim = number | string | null;

export interface Use {
  readonly node: Node;
  /** Input slot of `node` that reads the value. */
  readonly index: number;
}

/**
 * A value flowing through the graph: a graph input, a node output, or a
 * constant (initializer / weight). It knows its producer and every use, so
 * passes rewire by object, never by name string.
 */
export class Value {
  name: string;
  dtype?: DType;
  /** undefined when the rank is unknown. */
  shape?: Dim[];
  docString?: string;
  /** The constant data when this value is an initializer / weight. */
  const?: Tensor;
  /** Type information a format keeps verbatim when it is not a plain tensor type (ONNX sequences, maps, optionals, sparse). */
  typeExtra?: unknown;
  /** Format-specific extras kept for lossless re-encoding (e.g. ONNX ValueInfoProto metadata_props). */
  extra?: unknown;
  private _producer: Node | null = null;
  private _producerIndex = -1;
  private readonly _uses: Use[] = [];

  constructor(name: string, init: { dtype?: DType; shape?: Dim[]; const?: Tensor } = {}) {
    this.name = name;
    this.dtype = init.dtype;
    this.shape = init.shape;
    this.const = init.const;
  }

  get producer(): Node | null {
    return this._producer;
  }

  get producerIndex(): number {
    return this._producerIndex;
  }

  get uses(): readonly Use[] {
    return this._uses;
  }

  get isConstant(): boolean {
    return this.const !== undefined;
  }

  /** @internal Maintained by Node; do not call from passes. */
  _setProducer(node: Node | null, index: number): void {
    this._producer = node;
    this._producerIndex = index;
  }

  /** @internal */
  _addUse(node: Node, index: number): void {
    this._uses.push({ node, index });
  }

  /** @internal */
  _removeUse(node: Node, index: number): void {
    const i = this._uses.findIndex((u) => u.node === node && u.index === index);
    if (i >= 0) this._uses.splice(i, 1);
  }

  /**
   * Point every node input that reads this value at `other` instead.
   * Graph outputs are separate: pass the graph to replace them as well.
   */
  replaceAllUsesWith(other: Value, graphOutputs?: Value[]): void {
    if (other === this) return;
    for (const use of [...this._uses]) use.node.setInput(use.index, other);
    if (graphOutputs) {
      for (let i = 0; i < graphOutputs.length; i++) if (graphOutputs[i] === this) graphOutputs[i] = other;
    }
  }
}
