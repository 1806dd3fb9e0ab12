import { UnsupportedError } from '../../errors';
import type { Model, Value } from '../../ir';
import { Executor } from '../../runtime/executor';
import type { T, TF } from '../../runtime/executor';
import { openTfjsGradModel, type DifferentiableModel } from '../../runtime/tfjs-grad';
import type { Scalar } from '@tensorflow/tfjs';

/**
 * The model to differentiate, by format: ONNX graphs run on mc's differentiable
 * executor (ONNX ops on tfjs ops); tfjs models run on stock tfjs itself.
 */
export async function openGradModel(tf: TF, model: Model, weights: readonly Value[]): Promise<DifferentiableModel> {
  if (model.format === 'onnx') return new ExecutorGradModel(new Executor(model, tf), weights);
  if (model.format === 'tfjs-layers' || model.format === 'tfjs-graph') return openTfjsGradModel(tf, model, weights);
  throw new UnsupportedError(`saliency: mc has no gradients for '${model.format}' models`);
}

class ExecutorGradModel implements DifferentiableModel {
  readonly weights: readonly T[];

  constructor(private readonly ex: Executor, private readonly chosen: readonly Value[]) {
    this.weights = chosen.map((v) => ex.constant(v));
  }

  predict(feeds: Readonly<Record<string, T>>): T {
    const [out, ...rest] = this.ex.run(feeds);
    this.ex.tf.dispose(rest);
    return out;
  }

  grads(feeds: Readonly<Record<string, T>>, loss: (output: T) => Scalar): T[] {
    return this.ex.lossAndGrads(feeds, this.chosen, (outs) => loss(outs[0])).grads;
  }

  dispose(): void {
    this.ex.dispose();
  }
}

/** Whether the first graph output is already a probability vector (softmax), looking through Identity. */
export function outputIsProbabilities(model: Model): boolean {
  let n = model.graph.outputs[0]?.producer ?? null;
  while (n && n.opType === 'Identity') n = n.inputs[0]?.producer ?? null;
  if (!n) return false;
  if (n.opType === 'Softmax') return true; // ONNX, tf, and the Keras Softmax layer
  if (n.domain !== 'keras') return false;
  // Keras layers with an activation (Dense, Conv2D, Activation) carry it in their config.
  const c = n.attributes.get('config');
  return c?.type === 'json' && typeof c.value === 'object' && c.value !== null && (c.value as { activation?: unknown }).activation === 'softmax';
}
