import type { Scalar } from '@tensorflow/tfjs';
import { UnsupportedError } from '../../errors';
import type { Model, Node, Value } from '../../ir';
import { irToTf } from './convert';
import { defaultOnnxOps, opLimits } from './ops';
import type { BatchStatsHook, OpContext, OpTable, T, TF } from './types';

export interface RunOptions {
  /** Tensors to use instead of a constant's data (the weights being differentiated). */
  overrides?: ReadonlyMap<Value, T>;
  /** Called with every node output as it is computed (shape inference, activation statistics). */
  observe?: (v: Value, t: T) => void;
  /** Values to return instead of the graph outputs (a Softmax's input, for losses on logits). */
  outputs?: readonly Value[];
  /**
   * What the rest of the graph reads instead of an activation (a graph input or a node output) as
   * computed: static QAT's fake quantization of the tensors a QuantizeLinear will take (train/fake-quant-static.ts).
   */
  activations?: ReadonlyMap<Value, (t: T) => T>;
  /**
   * Training with batch statistics: each inference-form BatchNormalization the hook `has` normalizes
   * with the batch's own mean and variance (gradients flow through them) and hands them to the hook,
   * which keeps the running statistics (train/batchnorm-train.ts). Others, and every node when this
   * is absent, use the stored statistics.
   */
  batchStats?: BatchStatsHook;
}

export interface LossAndGrads {
  loss: number;
  /** One gradient per requested weight, same order; the caller disposes them. */
  grads: T[];
}

/**
 * Runs an ONNX-style IR graph on tfjs ops, so tfjs autodiff gives dL/dW for any
 * constant W. Constants are converted to tfjs tensors once and kept until dispose().
 * Feeds are keyed by graph input name; outputs follow graph.outputs.
 */
export class Executor {
  private readonly consts = new Map<Value, T>();

  constructor(readonly model: Model, readonly tf: TF, readonly ops: OpTable = defaultOnnxOps) {
    const missing = unsupportedOps(model, ops);
    if (missing.length) throw new UnsupportedError(`the differentiable executor does not support op${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  }

  /** Forward pass. Intermediates are freed; the returned tensors belong to the caller. */
  run(feeds: Readonly<Record<string, T>>, opts: RunOptions = {}): T[] {
    return this.tf.tidy(() => this.forward(feeds, opts));
  }

  /**
   * The loss and its gradients with respect to `weights` (constant values of the graph),
   * taken at `at` (same order; default: the constants' own data), which is how training
   * differentiates at its current weights without touching the IR. `outputs`: what
   * `loss` receives instead of the graph outputs (RunOptions.outputs).
   */
  lossAndGrads(feeds: Readonly<Record<string, T>>, weights: readonly Value[], loss: (outputs: T[]) => Scalar, at?: readonly T[], outputs?: readonly Value[], batchStats?: BatchStatsHook): LossAndGrads {
    const f = (...ws: T[]): Scalar => {
      const overrides = new Map<Value, T>(weights.map((w, i) => [w, ws[i]]));
      return loss(this.forward(feeds, { overrides, outputs, batchStats }));
    };
    const { value, grads } = this.tf.valueAndGrads(f)(at ? [...at] : weights.map((w) => this.constant(w)));
    const l = value.dataSync()[0];
    value.dispose();
    return { loss: l, grads };
  }

  /** Shapes of every node output for these feeds (a forward pass; nothing is kept). */
  shapes(feeds: Readonly<Record<string, T>>): Map<Value, number[]> {
    const out = new Map<Value, number[]>();
    this.tf.dispose(this.run(feeds, { observe: (v, t) => out.set(v, [...t.shape]) }));
    return out;
  }

  /** The tfjs tensor for a constant value (cached). */
  constant(v: Value): T {
    let t = this.consts.get(v);
    if (!t) {
      if (!v.const) throw new Error(`value '${v.name}' is not a constant`);
      t = this.tf.keep(irToTf(this.tf, v.const));
      this.consts.set(v, t);
    }
    return t;
  }

  /** Drops the cached tfjs copy of these constants (all when omitted), after their IR data changed. */
  invalidate(values?: Iterable<Value>): void {
    for (const v of values ?? [...this.consts.keys()]) {
      this.consts.get(v)?.dispose();
      this.consts.delete(v);
    }
  }

  dispose(): void {
    for (const t of this.consts.values()) t.dispose();
    this.consts.clear();
  }

  private forward(feeds: Readonly<Record<string, T>>, opts: RunOptions): T[] {
    const g = this.model.graph;
    const env = new Map<Value, T>();
    for (const v of g.inputs) {
      if (v.const) continue;
      const t = feeds[v.name];
      if (!t) throw new Error(`missing feed for graph input '${v.name}'`);
      env.set(v, opts.activations?.get(v)?.(t) ?? t);
    }
    const read = (v: Value | null): T | null => {
      if (!v) return null;
      const o = opts.overrides?.get(v);
      if (o) return o;
      const t = env.get(v);
      if (t) return t;
      if (v.const) return this.constant(v);
      throw new Error(`value '${v.name}' is read before it is computed`);
    };
    for (const node of g.nodes) {
      const ctx: OpContext = { tf: this.tf, node, opset: this.model.opsetVersion(node.domain) ?? 1, batchStats: opts.batchStats };
      const out = this.ops[node.opType](ctx, node.inputs.map(read));
      const outs = Array.isArray(out) ? out : [out];
      node.outputs.forEach((v, i) => {
        if (!outs[i]) return;
        const t = opts.activations?.get(v)?.(outs[i]) ?? outs[i];
        env.set(v, t);
        opts.observe?.(v, t);
      });
    }
    return (opts.outputs ?? g.outputs).map((v) => {
      const t = read(v);
      if (!t) throw new Error(`output '${v.name}' was not computed`);
      return t;
    });
  }
}

/** Op types of `model` (main graph) that `ops` lacks, or that are in a non-default domain. */
export function unsupportedOps(model: Model, ops: OpTable = defaultOnnxOps): string[] {
  const bad = new Set<string>();
  const visit = (n: Node): void => {
    const domain = n.domain === 'ai.onnx' ? '' : n.domain;
    if (domain !== '' || !Object.prototype.hasOwnProperty.call(ops, n.opType)) bad.add(domain ? `${domain}.${n.opType}` : n.opType);
    else {
      const limit = opLimits[n.opType]?.(n, model.opsetVersion('') ?? 1);
      if (limit) bad.add(`${n.opType} (${limit})`);
    }
  };
  for (const n of model.graph.allNodes()) visit(n);
  return [...bad].sort();
}
