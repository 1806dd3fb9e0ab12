import type { Node } from '../node';
import type { Value } from '../value';
import { kerasOps } from './keras';
import { onnxOps } from './onnx';
import { tfOps } from './tf';
import type { OpSpec, WeightSpec } from './types';

/** Op knowledge, keyed by domain and op type. Explicit and typed: no string dispatch elsewhere. */
export class OpRegistry {
  private readonly specs = new Map<string, OpSpec>();

  constructor(specs: Iterable<OpSpec>) {
    for (const s of specs) this.specs.set(key(s.domain, s.opType), s);
  }

  get(node: Pick<Node, 'domain' | 'opType'>): OpSpec | undefined {
    return this.specs.get(key(normalizeDomain(node.domain), node.opType));
  }

  /** True when the op keeps a quantized tensor's scale (moves or selects values only). */
  isScalePreserving(node: Node): boolean {
    return this.get(node)?.scalePreserving === true;
  }

  /**
   * The constant inputs of `node` that the registry knows, with their specs and
   * resolved (non-negative) axes. Only inputs that really are constants are returned.
   */
  weightsOf(node: Node): ResolvedWeight[] {
    const spec = this.get(node);
    if (!spec) return [];
    const out: ResolvedWeight[] = [];
    for (const w of spec.weights) {
      const index = typeof w.input === 'number' ? w.input : findParam(node, w.input);
      const value = index >= 0 ? node.inputs[index] : null;
      if (!value?.const) continue;
      const rank = value.const.shape.length;
      out.push({
        node, index, value, spec: w,
        outAxis: w.outAxis ? normAxis(w.outAxis(node), rank) : undefined,
        inAxis: w.inAxis ? normAxis(w.inAxis(node), rank) : undefined,
      });
    }
    return out;
  }
}

export interface ResolvedWeight {
  node: Node;
  /** Input slot of the weight in `node`. */
  index: number;
  value: Value;
  spec: WeightSpec;
  outAxis?: number;
  inAxis?: number;
}

/** The registry with every built-in op family. */
export const defaultOpRegistry = new OpRegistry([...onnxOps, ...tfOps, ...kerasOps]);

function key(domain: string, opType: string): string {
  return `${domain}::${opType}`;
}

function normalizeDomain(d: string): string {
  return d === 'ai.onnx' ? '' : d;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Keras weights are named '<layer>/<param>' (e.g. 'dense/kernel'); match the last path segment(s). */
function findParam(node: Node, param: string): number {
  return node.inputs.findIndex((v) => v !== null && v.const !== undefined && (v.name === param || v.name.endsWith('/' + param)));
}
