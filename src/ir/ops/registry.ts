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
   * Input slots the registry knows as weight slots (any role), whether or not a
   * constant sits there yet (a Constant node's output is not a constant Value).
   */
  weightSlots(node: Node): number[] {
    const spec = this.get(node);
    if (!spec) return [];
    const out: number[] = [];
    for (const w of spec.weights) {
      const index = typeof w.input === 'number' ? w.input : node.inputs.findIndex((v) => v !== null && (v.name === w.input || v.name.endsWith('/' + w.input)));
      if (index >= 0 && index < node.inputs.length && node.inputs[index] !== null) out.push(index);
    }
    return out;
  }

  /**
   * The spec of input `index` of `node` with its axes resolved for a weight of rank
   * `rank`, whether or not that input is a constant: for a weight that reaches its
   * op through data-movement nodes (src/graph/weight-chains.ts). `applies` is not
   * consulted (it needs the tensor); only the rank is known.
   */
  slotOf(node: Node, index: number, rank: number): { spec: WeightSpec; outAxis?: number; inAxis?: number } | undefined {
    const spec = this.get(node)?.weights.find((w) => w.input === index);
    if (!spec) return undefined;
    const shape = new Array<number>(rank).fill(1);
    return {
      spec,
      outAxis: spec.outAxis ? normAxis(spec.outAxis(node, shape), rank) : undefined,
      inAxis: spec.inAxis ? normAxis(spec.inAxis(node, shape), rank) : undefined,
    };
  }

  /**
   * The constant inputs of `node` that the registry knows, with their specs and
   * resolved (non-negative) axes. Only inputs that really are constants, and
   * that play their role in this node (`WeightSpec.applies`), are returned.
   * Two specs may name different slots of one op (MatMul's A and B): each
   * constant one is returned.
   */
  weightsOf(node: Node): ResolvedWeight[] {
    return this.constantSlots(node).flatMap(({ spec, index, value }) => {
      const t = value.const!;
      if (spec.applies && spec.applies(node, t) !== true) return [];
      const shape = t.shape;
      return [{
        node, index, value, spec,
        outAxis: spec.outAxis ? normAxis(spec.outAxis(node, shape), shape.length) : undefined,
        inAxis: spec.inAxis ? normAxis(spec.inAxis(node, shape), shape.length) : undefined,
      }];
    });
  }

  /**
   * Constant inputs in a registered slot that do not play its role in this node,
   * each with the reason (e.g. an Einsum equation that is not a plain matmul).
   * A pass lists these as skipped ("unsupported op role: <reason>").
   */
  refusedWeightsOf(node: Node): RefusedWeight[] {
    return this.constantSlots(node).flatMap(({ spec, index, value }) => {
      const why = spec.applies ? spec.applies(node, value.const!) : true;
      return why === true ? [] : [{ node, index, value, role: spec.role, reason: why }];
    });
  }

  private constantSlots(node: Node): { spec: WeightSpec; index: number; value: Value }[] {
    const spec = this.get(node);
    if (!spec) return [];
    const out: { spec: WeightSpec; index: number; value: Value }[] = [];
    for (const w of spec.weights) {
      const index = typeof w.input === 'number' ? w.input : findParam(node, w.input);
      const value = index >= 0 ? node.inputs[index] : null;
      if (value?.const) out.push({ spec: w, index, value });
    }
    return out;
  }
}

export interface RefusedWeight {
  node: Node;
  index: number;
  value: Value;
  /** The role the slot would have had. */
  role: WeightSpec['role'];
  reason: string;
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

/** A non-negative axis, or undefined when the spec has none or it is outside the weight's rank. */
function normAxis(axis: number | undefined, rank: number): number | undefined {
  if (axis === undefined) return undefined;
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

/** Keras weights are named '<layer>/<param>' (e.g. 'dense/kernel'); match the last path segment(s). */
function findParam(node: Node, param: string): number {
  return node.inputs.findIndex((v) => v !== null && v.const !== undefined && (v.name === param || v.name.endsWith('/' + param)));
}
