/**
 * Gradient coverage: every op of the differentiable executor (defaultOnnxOps) is listed in
 * the table below with how its gradient is checked. Ops whose train/gradients.ts rule is
 * 'inputs' are checked, one single-node graph each, against central finite differences:
 * for every differentiable input, dL/dx from tfjs autodiff at 8 seeded elements equals
 * (L(x + ε) − L(x − ε)) / 2ε, with L = Σ out ⊙ R for a fixed random R.
 *
 * Precision: tfjs has no float64, so this runs in float32 on the wasm backend that
 * training uses (with mc's registered conv backprop kernels). With ε = 1e-2 the central
 * difference's truncation error is ε²/6·|L'''| ≲ 2e-5 for these smooth inputs, and the
 * float32 rounding of L (a sum of ≤ 120 terms of size ≲ 3, error ≲ 120·3·6e-8 ≈ 2e-5)
 * divided by 2ε adds ≲ 1e-3; the tolerance 3e-3·(1 + |g|) is the sum with margin ×2-3.
 * Piecewise ops get inputs at least 0.05 from their kinks and ties (> 2ε), so the
 * difference never straddles one. Ops whose rule is 'constant' or 'none' are marked, and
 * a weight that reaches a 'none' op is refused with an error naming it.
 */
import * as tf from '@tensorflow/tfjs';
import { floatAttr, intAttr, intsAttr, Model, Node, stringAttr, Tensor, Value } from '../../src/ir';
import { defaultOnnxOps, Executor, useGradientBackend } from '../../src/runtime/executor';
import { checkTrainable, GRADIENTS, trainableParams } from '../../src/train';

type Attr = ReturnType<typeof intAttr>;
interface In { shape: number[]; kind?: 'sym' | 'pos' | 'away' | 'distinct' | 'int' | 'fixed'; ints?: number[]; floats?: number[] }
interface Case { op: string; inputs: In[]; attrs?: Attr[]; outputs?: number; opset?: number; label?: string; only?: number[] }

let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
function values(i: In): Float32Array {
  const n = i.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (i.kind === 'distinct') {
    const perm = [...Array(n).keys()].sort(() => rand() - 0.5);
    perm.forEach((p, k) => { out[k] = (p - n / 2) * 0.05 + 0.025; });
    return out;
  }
  for (let k = 0; k < n; k++) {
    const u = rand();
    if (i.kind === 'pos') out[k] = 0.5 + u;
    else if (i.kind === 'away') out[k] = (u < 0.5 ? -1 : 1) * (0.1 + 0.9 * rand());
    else out[k] = 2 * u - 1;
  }
  return out;
}

const f = (shape: number[], kind: In['kind'] = 'sym'): In => ({ shape, kind });
const ints = (v: number[]): In => ({ shape: [v.length], kind: 'int', ints: v });
const CASES: Case[] = [
  { op: 'Add', inputs: [f([2, 3]), f([3])] }, { op: 'Sub', inputs: [f([2, 3]), f([3])] },
  { op: 'Mul', inputs: [f([2, 3]), f([3])] }, { op: 'Div', inputs: [f([2, 3]), f([3], 'pos')] },
  { op: 'Pow', inputs: [f([2, 3], 'pos'), f([3])] },
  { op: 'Max', inputs: [f([2, 3]), f([3]), f([2, 1])], label: 'Max of 3 inputs, broadcast' },
  { op: 'Min', inputs: [f([2, 3]), f([2, 3])] },
  { op: 'Sum', inputs: [f([2, 3]), f([3]), f([2, 1])] }, { op: 'Mean', inputs: [f([2, 3]), f([2, 3])] },
  { op: 'Sqrt', inputs: [f([2, 3], 'pos')] }, { op: 'Erf', inputs: [f([2, 3])] }, { op: 'Relu', inputs: [f([2, 3], 'away')] },
  { op: 'Sigmoid', inputs: [f([2, 3])] }, { op: 'Tanh', inputs: [f([2, 3])] }, { op: 'Exp', inputs: [f([2, 3])] },
  { op: 'Log', inputs: [f([2, 3], 'pos')] }, { op: 'Neg', inputs: [f([2, 3])] }, { op: 'Abs', inputs: [f([2, 3], 'away')] },
  { op: 'Reciprocal', inputs: [f([2, 3], 'pos')] }, { op: 'Identity', inputs: [f([2, 3])] }, { op: 'HardSwish', inputs: [f([2, 3])] },
  { op: 'LeakyRelu', inputs: [f([2, 3], 'away')], attrs: [floatAttr('alpha', 0.1)] },
  { op: 'HardSigmoid', inputs: [f([2, 3])] },
  { op: 'Clip', inputs: [f([4, 5], 'distinct'), { shape: [], kind: 'sym' }, { shape: [], kind: 'sym' }], label: 'Clip (bounds ±0.3 between grid values)' },
  { op: 'Softmax', inputs: [f([3, 4])] }, { op: 'LogSoftmax', inputs: [f([3, 4])] },
  { op: 'Conv', inputs: [f([2, 3, 5, 5]), f([4, 3, 3, 3]), f([4])], attrs: [intsAttr('pads', [1, 1, 1, 1])], label: 'Conv 3×3 pad 1 (stride-1 backprop input)' },
  { op: 'Conv', inputs: [f([2, 2, 6, 6]), f([3, 2, 3, 3]), f([3])], attrs: [intsAttr('strides', [2, 2]), intsAttr('pads', [0, 1, 1, 0])], label: 'Conv stride 2, asymmetric pads' },
  { op: 'Conv', inputs: [f([1, 4, 5, 5]), f([6, 2, 3, 3]), f([6])], attrs: [intAttr('group', 2)], label: 'Conv group 2' },
  { op: 'Conv', inputs: [f([2, 3, 5, 5]), f([3, 1, 3, 3]), f([3])], attrs: [intAttr('group', 3), intsAttr('pads', [1, 0, 1, 2])], label: 'Conv depthwise (group = C), asymmetric pads' },
  { op: 'Conv', inputs: [f([1, 2, 6, 6]), f([2, 1, 3, 3]), f([2])], attrs: [intAttr('group', 2), intsAttr('strides', [2, 2])], label: 'Conv depthwise stride 2, valid (ragged: the last row and column reach no output)' },
  { op: 'Conv', inputs: [f([2, 3, 7, 7]), f([3, 1, 3, 3]), f([3])], attrs: [intAttr('group', 3), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1])], label: 'Conv depthwise stride 2, pad 1 (MobileNetV3 / PP-OCR cls)' },
  { op: 'Conv', inputs: [f([1, 2, 8, 8]), f([2, 1, 3, 3]), f([2])], attrs: [intAttr('group', 2), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1])], label: 'Conv depthwise stride 2, even size (the last row and column of dx see only padding)' },
  { op: 'Conv', inputs: [f([2, 2, 5, 5]), f([4, 1, 3, 3]), f([4])], attrs: [intAttr('group', 2), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 0, 0, 1])], label: 'Conv depthwise channel multiplier 2, stride 2' },
  { op: 'ConvTranspose', inputs: [f([1, 2, 3, 3]), f([2, 3, 2, 2]), f([3])], attrs: [intsAttr('strides', [2, 2])], label: 'ConvTranspose 2×2 stride 2 (PP-OCR det\'s upsampling)' },
  { op: 'ConvTranspose', inputs: [f([2, 2, 4, 4]), f([2, 2, 3, 3]), f([2])], attrs: [intsAttr('strides', [2, 2]), intsAttr('pads', [1, 0, 0, 1]), intsAttr('output_padding', [1, 1])], label: 'ConvTranspose 3×3 stride 2, asymmetric pads, output_padding' },
  { op: 'Resize', inputs: [f([1, 2, 3, 3]), { shape: [0], kind: 'fixed', floats: [] }, { shape: [4], kind: 'fixed', floats: [1, 1, 2, 2] }], attrs: [stringAttr('mode', 'nearest'), stringAttr('coordinate_transformation_mode', 'asymmetric'), stringAttr('nearest_mode', 'floor')], label: 'Resize nearest ×2 (asymmetric, floor)' },
  { op: 'Resize', inputs: [f([1, 2, 3, 4]), { shape: [0], kind: 'fixed', floats: [] }, { shape: [4], kind: 'fixed', floats: [1, 1, 2, 1.5] }], attrs: [stringAttr('mode', 'linear'), stringAttr('coordinate_transformation_mode', 'asymmetric')], label: 'Resize linear ×2, ×1.5 (asymmetric)' },
  { op: 'Resize', inputs: [f([1, 2, 3, 3]), { shape: [0], kind: 'fixed', floats: [] }, { shape: [4], kind: 'fixed', floats: [1, 1, 2, 2] }], attrs: [stringAttr('mode', 'linear'), stringAttr('coordinate_transformation_mode', 'align_corners')], label: 'Resize linear ×2 (align_corners)' },
  { op: 'Resize', inputs: [f([1, 1, 2, 3]), { shape: [0], kind: 'fixed', floats: [] }, { shape: [4], kind: 'fixed', floats: [1, 1, 3, 2] }], attrs: [stringAttr('mode', 'nearest')], label: 'Resize nearest ×3, ×2 (half_pixel, round_prefer_floor: the same source as floor at whole factors)' },
  { op: 'Gemm', inputs: [f([3, 4]), f([5, 4]), f([5])], attrs: [intAttr('transB', 1), floatAttr('alpha', 0.7)] },
  { op: 'MatMul', inputs: [f([2, 3, 4]), f([4, 5])] },
  { op: 'MaxPool', inputs: [f([1, 2, 4, 4], 'distinct')], attrs: [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])] },
  { op: 'AveragePool', inputs: [f([1, 2, 4, 4])], attrs: [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])] },
  { op: 'GlobalAveragePool', inputs: [f([2, 3, 3, 3])] }, { op: 'GlobalMaxPool', inputs: [f([2, 3, 3, 3], 'distinct')] },
  { op: 'Flatten', inputs: [f([2, 3, 4])] }, { op: 'Reshape', inputs: [f([2, 6]), ints([3, 4])] },
  { op: 'Transpose', inputs: [f([2, 3, 4])], attrs: [intsAttr('perm', [2, 0, 1])] },
  { op: 'Concat', inputs: [f([2, 3]), f([2, 2])], attrs: [intAttr('axis', 1)] },
  { op: 'Split', inputs: [f([2, 6]), ints([2, 4])], attrs: [intAttr('axis', 1)], outputs: 2 },
  { op: 'Slice', inputs: [f([4, 5]), ints([1, 0]), ints([3, 4]), ints([0, 1]), ints([1, 2])] },
  { op: 'Gather', inputs: [f([5, 3]), ints([4, 0, 4])] },
  { op: 'Squeeze', inputs: [f([2, 1, 3]), ints([1])] }, { op: 'Unsqueeze', inputs: [f([2, 3]), ints([0])] },
  { op: 'Expand', inputs: [f([3, 1]), ints([2, 3, 4])] },
  { op: 'Pad', inputs: [f([2, 3]), ints([1, 0, 0, 2])] },
  { op: 'ReduceMean', inputs: [f([2, 3, 4])], attrs: [intsAttr('axes', [1])] },
  { op: 'ReduceSum', inputs: [f([2, 3, 4]), ints([2])] },
  { op: 'ReduceMax', inputs: [f([2, 3, 4], 'distinct')], attrs: [intsAttr('axes', [2])] },
  { op: 'ReduceMin', inputs: [f([2, 3, 4], 'distinct')], attrs: [intsAttr('axes', [1])] },
  { op: 'BatchNormalization', inputs: [f([2, 3, 2, 2]), f([3]), f([3]), f([3]), f([3], 'pos')] },
  { op: 'LayerNormalization', inputs: [f([2, 3, 4]), f([4]), f([4])], opset: 17 },
];

/** Ops the table marks unchecked, with why: exactly the rules that are not 'inputs'. */
const UNCHECKED: Record<string, string> = {
  Shape: 'constant: the output does not depend on input values (zero gradient)',
  Size: 'constant: the output does not depend on input values (zero gradient)',
  Constant: 'constant: no inputs',
  Cast: 'none: training through it is refused (checkTrainable names it)',
};

function build(c: Case): { model: Model; inputs: Value[] } {
  const m = new Model('onnx');
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: c.opset ?? 13 }];
  const g = m.graph;
  const inputs = c.inputs.map((i, k) => {
    const name = `in${k}`;
    if (i.kind === 'int') return g.addInitializer(name, Tensor.fromArray('int64', i.shape, BigInt64Array.from(i.ints!, BigInt), name));
    let data = i.kind === 'fixed' ? Float32Array.from(i.floats!) : values(i);
    if (c.op === 'Clip' && k > 0) data = Float32Array.of(k === 1 ? -0.3 : 0.3);
    return g.addInitializer(name, Tensor.fromArray('float32', i.shape, data, name));
  });
  const outs = Array.from({ length: c.outputs ?? 1 }, (_, k) => new Value(`out${k}`, { dtype: 'float32' }));
  g.addNode(new Node({ opType: c.op, name: 'n', inputs, outputs: outs, attributes: c.attrs ?? [] }));
  g.outputs.push(...outs);
  return { model: m, inputs };
}

beforeAll(async () => {
  await useGradientBackend(tf, 'wasm');
});

describe('gradient coverage table', () => {
  test('every executor op is either checked below or marked with its rule', () => {
    const checked = new Set(CASES.map((c) => c.op));
    for (const op of Object.keys(defaultOnnxOps)) {
      const rule = GRADIENTS[op];
      expect({ op, rule: rule?.kind ?? 'missing' }).toEqual({ op, rule: expect.stringMatching(/inputs|constant|none/) });
      if (rule.kind === 'inputs') expect({ op, checked: checked.has(op) }).toEqual({ op, checked: true });
      else expect({ op, marked: UNCHECKED[op] !== undefined }).toEqual({ op, marked: true });
    }
    const rows = Object.keys(defaultOnnxOps).sort().map((op) => `${op.padEnd(20)} ${GRADIENTS[op].kind === 'inputs' ? 'checked (finite differences)' : UNCHECKED[op]}`);
    console.log(`gradient coverage:\n${rows.join('\n')}`);
  });

  test.each(CASES.map((c) => [c.label ?? c.op, c] as const))('%s: autodiff = central finite differences', (_label, c) => {
    const { model, inputs } = build(c);
    const rule = GRADIENTS[c.op];
    if (rule.kind !== 'inputs') throw new Error('not differentiable');
    const wrt = inputs.filter((v, k) => v.const!.dtype === 'float32' && (rule.inputs === 'all' || rule.inputs.includes(k)) && !(c.op === 'Clip' && k > 0) && (!c.only || c.only.includes(k)));
    const ex = new Executor(model, tf);
    const outs = ex.run({});
    const rs = outs.map((o) => tf.keep(tf.tensor(values({ shape: o.shape }), o.shape)));
    tf.dispose(outs);
    const loss = (os: tf.Tensor[]) => os.map((o, i) => tf.sum(tf.mul(o, rs[i]))).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
    const { grads } = ex.lossAndGrads({}, wrt, loss);
    const eps = 1e-2;
    wrt.forEach((v, wi) => {
      const g = grads[wi].dataSync();
      const base = v.const!.toFloat32();
      const n = base.length;
      for (let s = 0; s < Math.min(8, n); s++) {
        const k = Math.floor(rand() * n);
        const at = (d: number) => {
          const w = Float32Array.from(base);
          w[k] += d;
          const t = tf.tensor(w, v.const!.shape);
          const os = ex.run({}, { overrides: new Map([[v, t]]) });
          const l = loss(os).dataSync()[0];
          tf.dispose([t, ...os]);
          return l;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        expect({ input: v.name, k, diff: Math.abs(fd - g[k]) <= 3e-3 * (1 + Math.abs(g[k])) }).toEqual({ input: v.name, k, diff: true });
      }
    });
    tf.dispose([...grads, ...rs]);
    ex.dispose();
  });

  /** A model with an input x [1, 4] and a weight w [4, 2] (0.5 each), nothing else yet. */
  function inputAndWeight(): { m: Model; g: Model['graph']; x: Value; w: Value } {
    const m = new Model('onnx');
    m.opsetImports = [{ domain: '', version: 13 }];
    const g = m.graph;
    const x = new Value('x', { dtype: 'float32', shape: [1, 4] });
    g.inputs.push(x);
    const w = g.addInitializer('w', Tensor.fromArray('float32', [4, 2], new Float32Array(8).fill(0.5), 'w'));
    return { m, g, x, w };
  }

  test('training through Cast is refused with an error naming the op and node', () => {
    const { m, g, x, w } = inputAndWeight();
    const y = new Value('y');
    const z = new Value('z', { dtype: 'float32' });
    g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
    g.addNode(new Node({ opType: 'Cast', name: 'to_int', inputs: [y], outputs: [z], attributes: [intAttr('to', 7)] }));
    g.outputs.push(z);
    expect(() => checkTrainable(m, trainableParams(m))).toThrow(/cannot train 'w'.*Cast node 'to_int', which has no gradient/);
  });

  // paddle2onnx's flatten: Shape → Cast → Slice → Concat → Reshape's shape input. No gradient flows
  // through that path (Reshape is differentiable at its data input only), so its Cast is not in the way;
  // a weight-derived value cast and used only as a shape operand is not either.
  test('a Cast that feeds only a shape is not refused; one the gradient must cross still is', () => {
    const { m, g, x, w } = inputAndWeight();
    const [y, s, si, sc, half, z, wsum, wint] = ['y', 's', 'si', 'sc', 'half', 'z', 'wsum', 'wint'].map((n) => new Value(n));
    const ends = g.addInitializer('ends', Tensor.fromArray('int64', [1], BigInt64Array.of(1n), 'ends'));
    const starts = g.addInitializer('starts', Tensor.fromArray('int64', [1], BigInt64Array.of(0n), 'starts'));
    const minus1 = g.addInitializer('minus1', Tensor.fromArray('int64', [1], BigInt64Array.of(-1n), 'minus1'));
    g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
    g.addNode(new Node({ opType: 'Shape', name: 'shape', inputs: [y], outputs: [s] }));
    g.addNode(new Node({ opType: 'Cast', name: 'shape_cast', inputs: [s], outputs: [si], attributes: [intAttr('to', 6)] }));
    g.addNode(new Node({ opType: 'Slice', name: 'slice', inputs: [si, starts, ends], outputs: [sc] }));
    g.addNode(new Node({ opType: 'Concat', name: 'concat', inputs: [sc, minus1], outputs: [half], attributes: [intAttr('axis', 0)] }));
    g.addNode(new Node({ opType: 'Reshape', name: 'flatten', inputs: [y, half], outputs: [z] }));
    // A side branch from the weight through Cast that the output never reads.
    g.addNode(new Node({ opType: 'ReduceSum', name: 'wsum', inputs: [w], outputs: [wsum] }));
    g.addNode(new Node({ opType: 'Cast', name: 'dead_cast', inputs: [wsum], outputs: [wint], attributes: [intAttr('to', 7)] }));
    g.outputs.push(z);
    expect(() => checkTrainable(m, trainableParams(m))).not.toThrow();
    // The same Cast is in the way once the output depends on its value.
    g.outputs.push(wint);
    expect(() => checkTrainable(m, trainableParams(m), [wint])).toThrow(/cannot train 'w'.*Cast node 'dead_cast', which has no gradient/);
    // And the executor computes the graph (the shape path runs in int32).
    const ex = new Executor(m, tf);
    const [out] = ex.run({ x: tf.ones([1, 4]) });
    expect(out.shape).toEqual([1, 2]);
    tf.dispose(out);
    ex.dispose();
  });
});
