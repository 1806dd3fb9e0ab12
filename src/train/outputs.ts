import type { Model, Node, Value } from '../ir';
import { outputIsProbabilities } from '../passes/prune/gradients';
import { UsageError } from '../errors';
import type { LossKind } from './losses';

/**
 * What the classification losses (kd, ce, kd+ce) read of a model: logits, not probabilities.
 *
 *  - An ONNX graph whose first output is a Softmax over the last axis (through Identity),
 *    or a tfjs graph model whose first output is a Softmax, is read at the Softmax's
 *    input: the logits themselves (a graph model runs to that node: GraphModel.execute). softmax(z/T) is what
 *    Hinton et al. distil, and log-probabilities log p = z − logsumexp(z) give the same
 *    tempered distribution only in exact arithmetic: in float32 a confident p rounds to
 *    1 and the other class underflows (or is floored by an ε), which flattens both the
 *    soft targets and their gradient exactly where the teacher is sure.
 *  - Otherwise, an output that is a softmax (a Keras layer's activation, a Softmax over
 *    another axis or of unknown rank) is read as log(p) (losses.ts, `probabilities`).
 *  - Anything else, and every output under the mse loss, is read as it is.
 *  - An output a Sigmoid produces is refused for kd, ce and kd+ce (a UsageError naming
 *    --loss mse): it holds independent probabilities per element (a detection or
 *    segmentation map), and a softmax over its last axis would distil nonsense.
 * The model's output itself is never changed: this only picks what training reads.
 */
export interface TrainingOutput {
  /** The value the losses read (ONNX, tfjs graph model), or null: the model's first output. */
  value: Value | null;
  /** 'logits': a Softmax's input; 'probabilities': the output is a softmax (log taken); 'output': as is. */
  reads: 'logits' | 'probabilities' | 'output';
  /** One line for notes and metadata. */
  description: string;
}

export function trainingOutput(model: Model, loss: LossKind): TrainingOutput {
  if (loss === 'mse') return { value: null, reads: 'output', description: 'the first output as it is (mse)' };
  const sigmoid = outputProducer(model);
  if (sigmoid?.opType === 'Sigmoid') {
    const out = model.graph.outputs[0];
    throw new UsageError(`--loss ${loss} compares class distributions (a softmax over the last axis), but the first output '${out.name}' comes from a Sigmoid${sigmoid.name ? ` ('${sigmoid.name}')` : ''}: independent probabilities per element, not one distribution; use --loss mse (against the teacher's outputs)`);
  }
  const softmax = model.format === 'onnx' ? lastAxisSoftmax(model) : model.format === 'tfjs-graph' ? tfSoftmax(model) : null;
  if (softmax) {
    const what = softmax.name ? `Softmax node '${softmax.name}'` : 'the output Softmax';
    return { value: softmax.inputs[0]!, reads: 'logits', description: `the logits at the input of ${what}` };
  }
  if (outputIsProbabilities(model)) return { value: null, reads: 'probabilities', description: 'the log of the output probabilities (softmax output; its logits are not reachable)' };
  return { value: null, reads: 'output', description: 'the first output as logits' };
}

/** The node producing the first graph output, through Identity. */
function outputProducer(model: Model): Node | null {
  let n = model.graph.outputs[0]?.producer ?? null;
  while (n && n.opType === 'Identity') n = n.inputs[0]?.producer ?? null;
  return n;
}

/** A tfjs graph model's output Softmax (through Identity): TensorFlow's Softmax op always normalizes the last axis. */
function tfSoftmax(model: Model): Node | null {
  const n = outputProducer(model);
  return n && n.domain === 'tf' && n.opType === 'Softmax' && n.inputs[0] ? n : null;
}

/** The Softmax producing the first graph output (through Identity), when it normalizes the last axis of an input of known rank. */
function lastAxisSoftmax(model: Model): Node | null {
  const out = model.graph.outputs[0];
  const n = outputProducer(model);
  if (!n || n.opType !== 'Softmax' || !(n.domain === '' || n.domain === 'ai.onnx') || !n.inputs[0]) return null;
  // Softmax keeps its input's shape, so the output's rank is the input's.
  const rank = n.inputs[0].shape?.length ?? out.shape?.length;
  if (rank === undefined) return null;
  const opset = model.opsetVersion(n.domain) ?? 1;
  // Opset < 13 normalizes the input flattened to 2-D at `axis` (default 1): the last axis only when axis = rank − 1.
  const axis = n.attributes.has('axis') ? n.attrInt('axis') : opset >= 13 ? -1 : 1;
  return (axis < 0 ? axis + rank : axis) === rank - 1 ? n : null;
}
