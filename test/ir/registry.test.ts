import { Node, Tensor, Value, defaultOpRegistry, intAttr } from '../../src/ir';

function weight(name: string, shape: number[]): Value {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Value(name, { dtype: 'float32', shape, const: Tensor.fromArray('float32', shape, new Float32Array(n)) });
}

const x = (): Value => new Value('x');

describe('defaultOpRegistry.weightsOf', () => {
  it('Conv: W [M, C/group, kH, kW] out axis 0, reduction axis 1; B is a bias', () => {
    const node = new Node({ opType: 'Conv', inputs: [x(), weight('W', [8, 3, 3, 3]), weight('B', [8])], outputs: [new Value('y')] });
    const ws = defaultOpRegistry.weightsOf(node);
    expect(ws.map((w) => [w.value.name, w.index, w.spec.role, w.outAxis, w.inAxis])).toEqual([
      ['W', 1, 'weight', 0, 1],
      ['B', 2, 'bias', undefined, undefined],
    ]);
  });

  it('Gemm: the axes of B follow transB', () => {
    const plain = new Node({ opType: 'Gemm', inputs: [x(), weight('B', [16, 4])], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(plain).map((w) => [w.outAxis, w.inAxis])).toEqual([[1, 0]]);
    const trans = new Node({ opType: 'Gemm', inputs: [x(), weight('B', [4, 16])], outputs: [new Value('y')], attributes: [intAttr('transB', 1)] });
    expect(defaultOpRegistry.weightsOf(trans).map((w) => [w.outAxis, w.inAxis])).toEqual([[0, 1]]);
  });

  it('MatMul: B [..., K, N] resolves negative axes against its rank', () => {
    const m2 = new Node({ opType: 'MatMul', inputs: [x(), weight('B', [16, 4])], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(m2).map((w) => [w.outAxis, w.inAxis])).toEqual([[1, 0]]);
    const m3 = new Node({ opType: 'MatMul', inputs: [x(), weight('B', [2, 16, 4])], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(m3).map((w) => [w.outAxis, w.inAxis])).toEqual([[2, 1]]);
  });

  it('returns only inputs that are constants, and nothing for unknown ops', () => {
    const dynamic = new Node({ opType: 'MatMul', inputs: [x(), new Value('b')], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(dynamic)).toEqual([]);
    const unknown = new Node({ opType: 'Frobnicate', inputs: [x(), weight('W', [2])], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(unknown)).toEqual([]);
    // 'ai.onnx' is the default domain too.
    const conv = new Node({ opType: 'Conv', domain: 'ai.onnx', inputs: [x(), weight('W', [1, 1, 1, 1])], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(conv)).toHaveLength(1);
  });
});
