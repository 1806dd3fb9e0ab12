/**
 * Gradients of a loss with respect to the weights of a tfjs model, computed by
 * stock tfjs itself (the issue: "run the tfjs runtime itself, with the weights
 * fed in as differentiable tensors"), so the model differentiated is exactly
 * the model tfjs runs:
 *
 *  - layers-model: tf.loadLayersModel; each weight is the LayerVariable whose
 *    originalName is the manifest name (= the IR Value name), and
 *    tf.variableGrads differentiates model.apply with respect to them.
 *  - graph-model: tf.loadGraphModel; its weights are Const nodes whose tensors
 *    the executor looks up by node name, and GraphModel.execute accepts a
 *    feed for any node name (graph_executor.js: feeds overwrite the weight map
 *    entry), so feeding the Const names with the arguments of a tf.grads
 *    function makes the whole forward pass differentiable in those weights.
 *
 * Weights keep the layout of the IR (Keras kernels [in, out] / [H, W, in, out],
 * tf MatMul [K, N] or [N, K], Conv2D HWIO): it is the tfjs layout itself.
 * Conv gradients on the wasm backend need the Conv2DBackpropFilter kernel that
 * runtime/executor/backend.ts registers (useGradientBackend).
 */
import type { Scalar } from '@tensorflow/tfjs';
import type * as tfjs from '@tensorflow/tfjs';
import { UnsupportedError } from '../errors';
import type { Model, Value } from '../ir';
import { tfjsArtifacts } from './tfjs-grad-artifacts';
import type { T, TF } from './executor';

/** A model whose first output can be differentiated with respect to a fixed list of its weights. */
export interface DifferentiableModel {
  /** The current values of the chosen weights, in their IR layouts (owned by the model). */
  readonly weights: readonly T[];
  /** Forward pass: the first output for these feeds (keyed by graph input name). The caller disposes it. */
  predict(feeds: Readonly<Record<string, T>>): T;
  /** dL/dw for each chosen weight (same order and layout as `weights`), L = loss(first output). The caller disposes them. */
  grads(feeds: Readonly<Record<string, T>>, loss: (output: T) => Scalar): T[];
  dispose(): void;
}

/** Loads `model` (format 'tfjs-layers' or 'tfjs-graph') into stock tfjs for gradients with respect to `weights`. */
export async function openTfjsGradModel(tf: TF, model: Model, weights: readonly Value[]): Promise<DifferentiableModel> {
  const io = tf.io.fromMemory(tfjsArtifacts(model));
  if (model.format === 'tfjs-layers') return new LayersGradModel(tf, await tf.loadLayersModel(io), weights);
  return new GraphGradModel(tf, await tf.loadGraphModel(io), weights);
}

function checkShape(v: Value, t: T): void {
  const want = v.const!.shape;
  if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) {
    throw new Error(`tfjs holds weight '${v.name}' as ${JSON.stringify(t.shape)}, the IR as ${JSON.stringify(want)}`);
  }
}

class LayersGradModel implements DifferentiableModel {
  readonly weights: readonly tfjs.Variable[];

  constructor(private readonly tf: TF, private readonly lm: tfjs.LayersModel, chosen: readonly Value[]) {
    // Variable names get a process-wide suffix ("fc1/kernel_1") when a model loads twice; originalName is the manifest name.
    const byName = new Map(lm.weights.map((w) => [w.originalName, w]));
    this.weights = chosen.map((v) => {
      const w = byName.get(v.name);
      if (!w) throw new Error(`tfjs loaded no layer weight named '${v.name}'`);
      // Typed as Tensor, but read() returns the tf.Variable the layer computes with (tfjs-layers variables.ts).
      const t = w.read();
      if (!(t instanceof tf.Variable)) throw new Error(`layer weight '${v.name}' is not backed by a tf.Variable`);
      checkShape(v, t);
      return t;
    });
  }

  private forward(feeds: Readonly<Record<string, T>>): T {
    // Input layer names: a Sequential model's own inputNames is empty (its inner model has them).
    const xs = this.lm.inputs.map((i) => i.sourceLayer.name).map((n) => {
      const t = feeds[n];
      if (!t) throw new Error(`missing feed for model input '${n}'`);
      return t;
    });
    const out = this.lm.apply(xs.length === 1 ? xs[0] : xs, { training: false }) as T | T[];
    return Array.isArray(out) ? out[0] : out;
  }

  predict(feeds: Readonly<Record<string, T>>): T {
    return this.tf.tidy(() => this.forward(feeds));
  }

  grads(feeds: Readonly<Record<string, T>>, loss: (output: T) => Scalar): T[] {
    // variableGrads skips non-trainable variables; a frozen layer is still scored, so mark the chosen ones trainable meanwhile.
    const frozen = this.weights.filter((w) => !w.trainable);
    for (const w of frozen) w.trainable = true;
    try {
      const { value, grads } = this.tf.variableGrads(() => loss(this.forward(feeds)), [...this.weights]);
      value.dispose();
      return this.weights.map((w) => {
        const g = grads[w.name];
        if (!g) throw new Error(`no gradient reached layer weight '${w.name}'`);
        return g;
      });
    } finally {
      for (const w of frozen) w.trainable = false;
    }
  }

  dispose(): void {
    this.lm.dispose();
  }
}

class GraphGradModel implements DifferentiableModel {
  readonly weights: readonly T[];
  private readonly names: readonly string[];

  constructor(private readonly tf: TF, private readonly gm: tfjs.GraphModel, chosen: readonly Value[]) {
    this.names = chosen.map((v) => v.name);
    this.weights = chosen.map((v) => {
      const t = gm.weights[v.name]?.[0];
      if (!t) throw new Error(`tfjs loaded no Const node named '${v.name}'`);
      checkShape(v, t);
      return t;
    });
  }

  private forward(feeds: Readonly<Record<string, T>>, overrides: readonly T[] = []): T {
    const inputs: tfjs.NamedTensorMap = { ...feeds };
    overrides.forEach((w, i) => {
      inputs[this.names[i]] = w;
    });
    let out: T | T[];
    try {
      out = this.gm.execute(inputs);
    } catch (e) {
      // Control flow and dynamic shapes need executeAsync, which tf.grads cannot trace.
      if (e instanceof Error && /executeAsync/.test(e.message)) throw new UnsupportedError('saliency: this graph-model needs executeAsync (control flow or dynamic shapes), which tfjs cannot differentiate');
      throw e;
    }
    if (!Array.isArray(out)) return out;
    this.tf.dispose(out.slice(1));
    return out[0];
  }

  predict(feeds: Readonly<Record<string, T>>): T {
    return this.forward(feeds);
  }

  grads(feeds: Readonly<Record<string, T>>, loss: (output: T) => Scalar): T[] {
    const f = (...ws: T[]): Scalar => loss(this.forward(feeds, ws));
    const { value, grads } = this.tf.valueAndGrads(f)([...this.weights]);
    value.dispose();
    return grads;
  }

  dispose(): void {
    this.gm.dispose();
  }
}
