import { Node, Tensor, Value, defaultOpRegistry, intAttr, stringAttr } from '../../src/ir';

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

const ids = (shape: number[]): Value => {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Value('table', { dtype: 'int64', shape, const: Tensor.fromArray('int64', shape, new BigInt64Array(n)) });
};
const axesOf = (node: Node) => defaultOpRegistry.weightsOf(node).map((w) => [w.value.name, w.index, w.spec.role, w.outAxis, w.inAxis]);

describe('weight roles beyond Conv/Gemm/MatMul B', () => {
  it.each([['LSTM', 4], ['GRU', 3], ['RNN', 1]] as const)('%s: W and R gate rows on axis 1, reduction on axis 2; B a bias', (opType, gates) => {
    const h = 5;
    const inputs = [x(), weight('W', [2, gates * h, 7]), weight('R', [2, gates * h, h]), weight('B', [2, 2 * gates * h])];
    const node = new Node({ opType, inputs, outputs: [new Value('y')] });
    expect(axesOf(node)).toEqual([['W', 1, 'weight', 1, 2], ['R', 2, 'weight', 1, 2], ['B', 3, 'bias', undefined, undefined]]);
  });

  it('LSTM peepholes P (input 7) are norm-like, never a weight', () => {
    const inputs = [x(), weight('W', [1, 8, 3]), weight('R', [1, 8, 2]), null, null, null, null, weight('P', [1, 6])];
    const node = new Node({ opType: 'LSTM', inputs, outputs: [new Value('y')] });
    expect(axesOf(node)).toEqual([['W', 1, 'weight', 1, 2], ['R', 2, 'weight', 1, 2], ['P', 7, 'norm', undefined, undefined]]);
  });

  it('ConvTranspose: out axis 1 only when group = 1; grouped has no out axis', () => {
    const plain = new Node({ opType: 'ConvTranspose', inputs: [x(), weight('W', [4, 6, 3, 3])], outputs: [new Value('y')] });
    expect(axesOf(plain)).toEqual([['W', 1, 'weight', 1, 0]]);
    const grouped = new Node({ opType: 'ConvTranspose', inputs: [x(), weight('W', [4, 3, 3, 3])], outputs: [new Value('y')], attributes: [intAttr('group', 2)] });
    expect(axesOf(grouped)).toEqual([['W', 1, 'weight', undefined, 0]]);
  });

  it('Gather: a float matrix is an embedding table; an int64 shape table or a 1-D float list is not', () => {
    const emb = new Node({ opType: 'Gather', inputs: [weight('E', [100, 16]), x()], outputs: [new Value('y')] });
    expect(axesOf(emb)).toEqual([['E', 0, 'embedding', 0, 1]]);
    const shapeTable = new Node({ opType: 'Gather', inputs: [ids([4]), x()], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(shapeTable)).toEqual([]);
    expect(defaultOpRegistry.refusedWeightsOf(shapeTable).map((r) => r.reason)).toEqual(['Gather data int64[4] is not an embedding table (a float matrix [vocab, dim])']);
    const intMatrix = new Node({ opType: 'Gather', inputs: [ids([4, 2]), x()], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(intMatrix)).toEqual([]);
    const list = new Node({ opType: 'Gather', inputs: [weight('L', [10]), x()], outputs: [new Value('y')] });
    expect(defaultOpRegistry.weightsOf(list)).toEqual([]);
  });

  it('MatMul: a constant A [.., M, K] is a weight with out axis -2 and reduction axis -1; both slots coexist', () => {
    const a = new Node({ opType: 'MatMul', inputs: [weight('A', [6, 4]), x()], outputs: [new Value('y')] });
    expect(axesOf(a)).toEqual([['A', 0, 'weight', 0, 1]]);
    const a3 = new Node({ opType: 'MatMul', inputs: [weight('A', [2, 6, 4]), x()], outputs: [new Value('y')] });
    expect(axesOf(a3)).toEqual([['A', 0, 'weight', 1, 2]]);
    const both = new Node({ opType: 'MatMul', inputs: [weight('A', [6, 4]), weight('B', [4, 3])], outputs: [new Value('y')] });
    expect(axesOf(both)).toEqual([['B', 1, 'weight', 1, 0], ['A', 0, 'weight', 0, 1]]);
  });

  it('MatMul: a 1-D operand [K] has only a reduction axis', () => {
    const b1 = new Node({ opType: 'MatMul', inputs: [x(), weight('B', [4])], outputs: [new Value('y')] });
    expect(axesOf(b1)).toEqual([['B', 1, 'weight', undefined, 0]]);
    const a1 = new Node({ opType: 'MatMul', inputs: [weight('A', [4]), x()], outputs: [new Value('y')] });
    expect(axesOf(a1)).toEqual([['A', 0, 'weight', undefined, 0]]);
  });

  const einsum = (equation: string, constant: 0 | 1, shape: number[]): Node => {
    const inputs = constant === 0 ? [weight('W', shape), x()] : [x(), weight('W', shape)];
    return new Node({ opType: 'Einsum', inputs, outputs: [new Value('y')], attributes: [stringAttr('equation', equation)] });
  };
  it.each([
    // equation, constant operand, its shape, [outAxis, inAxis]
    ['bij,jk->bik', 1, [4, 3], [1, 0]],
    ['ij,jk->ik', 1, [4, 3], [1, 0]],
    ['...ij,jk->...ik', 1, [4, 3], [1, 0]],
    ['bik,kj->bij', 1, [4, 3], [1, 0]],
    ['bij,kj->bik', 1, [3, 4], [0, 1]],
    ['bij, kj -> bik', 1, [3, 4], [0, 1]],
    ['ij,jk', 1, [4, 3], [1, 0]],
    ['jk,bij->bik', 0, [4, 3], [1, 0]],
    ['ki,bkj->bij', 0, [4, 3], [1, 0]],
    ['bij,bjk->bik', 1, [2, 4, 3], [2, 1]],
    ['ij,j->i', 1, [4], [undefined, 0]],
  ] as const)('Einsum %s: constant operand %d %j has axes [out, in] = %j', (equation, constant, shape, [out, inAxis]) => {
    expect(axesOf(einsum(equation, constant, [...shape]))).toEqual([['W', constant, 'weight', out, inAxis]]);
  });

  it.each([
    ['ij,ij->ij', 1, [4, 3], 'contracts 0 subscripts'],
    ['bij,jk->bijk', 1, [4, 3], 'contracts 0 subscripts'],
    ['bij,jkl->bikl', 1, [4, 3, 2], 'keeps 2 output subscripts'],
    ['bij,jk->bi', 1, [4, 3], "sums the constant over 'k' alone"],
    ['bij,jk->bk', 1, [4, 3], 'sums the other operand'],
    ['ij,jj->ij', 1, [4, 4], 'repeats a subscript'],
    ['bij,...jk->bik', 1, [4, 3], 'the constant operand has an ellipsis'],
    ['bij,jk->bik', 1, [2, 4, 3], '2 subscripts for a rank-3 constant'],
    ['ij->ji', 0, [4, 3], '1 operand(s)'],
    ['bi1,jk->bik', 1, [4, 3], 'not a valid equation'],
  ] as const)('Einsum %s is not a weight role for operand %d %j: %s', (equation, constant, shape, why) => {
    const node = einsum(equation, constant, [...shape]);
    expect(defaultOpRegistry.weightsOf(node)).toEqual([]);
    const refused = defaultOpRegistry.refusedWeightsOf(node);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toContain(why);
  });
});
