/**
 * What the classification losses read (src/train/outputs.ts): the input of an output
 * Softmax over the last axis (the logits), else log(p) of a softmax output, else the
 * output itself; mse reads the output as it is. Checked on small graphs built here: the
 * value picked, and that a Trainable opened with it predicts the logits x·W + b
 * (computed in the test), not the probabilities. The same for a tfjs graph model (a
 * model.json written here: MatMul → BiasAdd → Softmax → Identity), run by stock tfjs.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/formats';
import { intAttr, Model, Node, Tensor, Value } from '../../src/ir';
import { openPredictor, openTrainable, trainingOutput } from '../../src/train';

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

const dt = (type: string) => ({ type });
/** A tfjs graph-model node (float). */
const node = (name: string, op: string, input: string[], attr: Record<string, unknown> = {}) => ({ name, op, input, attr: { T: dt('DT_FLOAT'), ...attr } });

/** A tfjs graph model (model.json + one shard) with a float input x [-1, 3], these float weights and nodes, in a new folder. */
function writeGraphModel(nodes: object[], weights: { name: string; shape: number[]; data: number[] }[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-graph-'));
  const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });
  const json = {
    format: 'graph-model', generatedBy: 'test', convertedBy: 'test',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: dt('DT_FLOAT'), shape: { shape: dims([-1, 3]) } } },
        ...weights.map((w) => ({ name: w.name, op: 'Const', attr: { dtype: dt('DT_FLOAT'), value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(w.shape) } } } })),
        ...nodes,
      ],
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: ['w.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.from(Float32Array.from(weights.flatMap((w) => w.data)).buffer));
  return dir;
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

  test('an output from a Sigmoid (per-element probabilities: a detection map, a binary head) is refused for kd, ce and kd+ce, naming --loss mse', () => {
    const m = classifier(13, { identity: true });
    m.graph.nodes.find((n) => n.opType === 'Softmax')!.opType = 'Sigmoid';
    for (const loss of ['kd', 'ce', 'kd+ce'] as const) {
      expect(() => trainingOutput(m, loss)).toThrow(new RegExp(`^--loss ${loss.replace('+', '\\+')} compares class distributions .* the first output 'out' comes from a Sigmoid \\('sm'\\): .*use --loss mse`));
    }
    expect(trainingOutput(m, 'mse')).toMatchObject({ value: null, reads: 'output' });
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

  test('a tfjs graph model with a Softmax output: trained and distilled at the Softmax input (stock tfjs runs to that node)', async () => {
    await tf.setBackend('cpu');
    const dir = writeGraphModel([
      node('mm', 'MatMul', ['x', 'w'], { transpose_a: { b: false }, transpose_b: { b: false } }),
      node('logits', 'BiasAdd', ['mm', 'b']),
      node('sm', 'Softmax', ['logits']),
      node('out', 'Identity', ['sm']),
    ], [{ name: 'w', shape: [3, 2], data: [1, -2, 3, 0.5, -1, 4] }, { name: 'b', shape: [2], data: [0.25, -0.5] }]);
    const m = loadModel(dir);
    const r = trainingOutput(m, 'kd');
    expect(r).toMatchObject({ reads: 'logits', description: "the logits at the input of Softmax node 'sm'" });
    expect(r.value?.name).toBe('logits');
    const logits = [0.5 - 3 - 2 + 0.25, -1 - 0.5 + 8 - 0.5];
    const x = tf.tensor2d([[0.5, -1, 2]]);
    const t = await openTrainable(tf, m, { output: r.value });
    expect(t.params.map((v) => v.name)).toEqual(['w', 'b']);
    const y = t.predict({ x });
    expect(Array.from(y.dataSync())).toEqual(logits);
    const teacher = await openPredictor(tf, m, r.value);
    const z = teacher.predict({ x });
    expect(Array.from(z.dataSync())).toEqual(logits);
    // Without the output, the model's own output: the probabilities.
    const plain = await openPredictor(tf, m);
    const p = plain.predict({ x });
    const e = logits.map((l) => Math.exp(l - Math.max(...logits)));
    Array.from(p.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(e[i] / (e[0] + e[1]), 6));
    tf.dispose([x, y, z, p]);
    t.dispose();
    teacher.dispose();
    plain.dispose();
  });

  test('a weight that only feeds another output is not trained, and is listed (ONNX and tfjs graph model): two heads on one input', async () => {
    await tf.setBackend('cpu');
    const m = new Model('onnx');
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 13 }];
    const x = new Value('x', { dtype: 'float32', shape: [1, 3] });
    m.graph.inputs.push(x);
    const [y1, y2] = [new Value('y1'), new Value('y2')];
    const [w1, w2] = ['w1', 'w2'].map((n) => m.graph.addInitializer(n, Tensor.fromArray('float32', [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6), n)));
    m.graph.addNode(new Node({ opType: 'MatMul', name: 'head1', inputs: [x, w1], outputs: [y1] }));
    m.graph.addNode(new Node({ opType: 'MatMul', name: 'head2', inputs: [x, w2], outputs: [y2] }));
    m.graph.outputs.push(y1, y2);
    const dir = writeGraphModel([
      node('head1', 'MatMul', ['x', 'w1'], { transpose_a: { b: false }, transpose_b: { b: false } }),
      node('head2', 'MatMul', ['x', 'w2'], { transpose_a: { b: false }, transpose_b: { b: false } }),
    ], ['w1', 'w2'].map((name) => ({ name, shape: [3, 2], data: [1, 2, 3, 4, 5, 6] })));
    for (const model of [m, loadModel(dir)]) {
      const t = await openTrainable(tf, model);
      expect({ format: model.format, trained: t.params.map((v) => v.name), unreached: t.unreached.map((v) => v.name) }).toEqual({ format: model.format, trained: ['w1'], unreached: ['w2'] });
      const xs = tf.tensor2d([[0.5, -1, 2]]);
      // d/dw1 of sum(y1) = xᵀ·1: every column of w1 gets x.
      const { grads } = t.lossAndGrads({ x: xs }, (out) => tf.sum(out) as tf.Scalar);
      expect(grads.length).toBe(1);
      expect(Array.from(grads[0].dataSync())).toEqual([0.5, 0.5, -1, -1, 2, 2]);
      tf.dispose([xs, ...grads]);
      t.dispose();
    }
  });
});
