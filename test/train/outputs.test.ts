/**
 * What the classification losses read (src/train/outputs.ts): the input of an output
 * Softmax over the last axis (the logits), else log(p) of a softmax output, else the
 * output itself; mse reads the output as it is. Checked on small graphs built here: the
 * value picked, and that a Trainable opened with it predicts the logits x·W + b
 * (computed in the test), not the probabilities.
 */
import * as tf from '@tensorflow/tfjs';
import { intAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { openTrainable, trainingOutput } from '../../src/train';

/** x [1, 3] (or [1, 2, 3] with rank3) · W [3, 2] + b → Softmax(axis) (→ Identity). */
function classifier(opset: number, { axis, rank3 = false, identity = false, shape = true }: { axis?: number; rank3?: boolean; identity?: boolean; shape?: boolean } = {}): Model {
  const m = new Model('onnx');
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: opset }];
  const g = m.graph;
  const x = new Value('x', { dtype: 'float32', shape: rank3 ? [1, 2, 3] : [1, 3] });
  g.inputs.push(x);
  const w = g.addInitializer('w', Tensor.fromArray('float32', [3, 2], Float32Array.of(1, -2, 3, 0.5, -1, 4), 'w'));
  const b = g.addInitializer('b', Tensor.fromArray('float32', [2], Float32Array.of(0.25, -0.5), 'b'));
  const [mm, logits, p] = ['mm', 'logits', 'p'].map((n) => new Value(n));
  g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [mm] }));
  g.addNode(new Node({ opType: 'Add', name: 'bias', inputs: [mm, b], outputs: [logits] }));
  g.addNode(new Node({ opType: 'Softmax', name: 'sm', inputs: [logits], outputs: [p], attributes: axis === undefined ? [] : [intAttr('axis', axis)] }));
  let out = p;
  if (identity) {
    out = new Value('out');
    g.addNode(new Node({ opType: 'Identity', name: 'id', inputs: [p], outputs: [out] }));
  }
  if (shape) out.shape = rank3 ? [1, 2, 2] : [1, 2];
  g.outputs.push(out);
  return m;
}

describe('trainingOutput', () => {
  test.each([
    ['opset 13, default axis (-1)', classifier(13)],
    ['opset 9, axis 1 of a rank-2 input (paddle2onnx)', classifier(9, { axis: 1 })],
    ['through an Identity', classifier(13, { identity: true })],
  ])('%s: the Softmax input', (_l, m) => {
    const r = trainingOutput(m, 'kd');
    expect(r.reads).toBe('logits');
    expect(r.value?.name).toBe('logits');
    expect(r.description).toMatch(/Softmax node 'sm'/);
  });

  test.each([
    ['opset 9, default axis 1 of a rank-3 input (normalizes the flattened trailing axes)', classifier(9, { rank3: true })],
    ['opset 13, axis 1 of a rank-3 input', classifier(13, { axis: 1, rank3: true })],
    ['rank unknown', classifier(9, { axis: 1, shape: false })],
  ])('%s: log of the probabilities', (_l, m) => {
    expect(trainingOutput(m, 'kd')).toMatchObject({ value: null, reads: 'probabilities' });
  });

  test('mse reads the output as it is; a model without a Softmax output is read as logits', () => {
    expect(trainingOutput(classifier(13), 'mse')).toMatchObject({ value: null, reads: 'output' });
    const m = classifier(13);
    const sm = m.graph.nodes.find((n) => n.opType === 'Softmax')!;
    m.graph.outputs[0] = sm.inputs[0]!;
    m.graph.removeNode(sm, true);
    expect(trainingOutput(m, 'ce')).toMatchObject({ value: null, reads: 'output' });
  });

  test('a Trainable opened on the Softmax input predicts the logits x·W + b', async () => {
    await tf.setBackend('cpu');
    const m = classifier(9, { axis: 1 });
    const r = trainingOutput(m, 'kd');
    const t = await openTrainable(tf, m, { output: r.value });
    const x = tf.tensor2d([[0.5, -1, 2]]);
    const y = t.predict({ x });
    // [0.5, -1, 2] · [[1, -2], [3, 0.5], [-1, 4]] + [0.25, -0.5]
    expect(Array.from(y.dataSync())).toEqual([0.5 - 3 - 2 + 0.25, -1 - 0.5 + 8 - 0.5]);
    tf.dispose([x, y]);
    t.dispose();
  });
});
