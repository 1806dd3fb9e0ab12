/**
 * The SIMD weight kernel (src/passes/quantize/weight-kernel.ts) against the JS loops it
 * replaces (useScalarWeightLoops): the same levels, scales, zero points and SQNR bit for
 * bit, for every integer range and symmetry, per channel on the last axis and in blocks
 * along the first (a partial last block included), on values that include exact
 * rounding ties, zeros, constant columns and wide ranges; then a whole model quantized
 * both ways encodes to the same bytes.
 */
import { encodeOnnx } from '../../src/formats/onnx';
import { quantizePass, resolveQuantizeOptions, runPass } from '../../src/passes';
import { intRange } from '../../src/passes/quantize/params';
import { quantizeWeight, WeightLayout } from '../../src/passes/quantize/weights';
import { useScalarWeightLoops, weightKernel, WeightKernel } from '../../src/passes/quantize/weight-kernel';
import { matmulChain, seeded } from '../huge/model';

afterEach(() => useScalarWeightLoops(false));

function values(n: number, seed: number, cols: number): Float32Array {
  const w = seeded(n, seed);
  for (let i = 0; i < n; i++) {
    const c = i % cols;
    if (c === 1) w[i] = 0; // an all-zero column
    else if (c === 2) w[i] = 0.25; // a constant column
    else if (c === 3) w[i] *= 1000; // a wide one
    else if (i % 7 === 0) w[i] = (Math.round(w[i] * 254) + 0.5) / 254; // near/at rounding ties
  }
  w[5 * cols] = 0.05; // the largest |w| of column 0 lands on qmax exactly
  return w;
}

function both(w: Float32Array, shape: number[], layout: WeightLayout, bits: 8 | 4, symmetric: boolean) {
  const calls = jest.spyOn(WeightKernel.prototype, 'quantizeRows');
  useScalarWeightLoops(true);
  const a = quantizeWeight(w, shape, layout, intRange(bits, symmetric), 'w');
  expect(calls).not.toHaveBeenCalled();
  useScalarWeightLoops(false);
  const b = quantizeWeight(w, shape, layout, intRange(bits, symmetric), 'w');
  expect(calls).toHaveBeenCalled(); // the kernel took it: the comparison is of two paths
  calls.mockRestore();
  return { a, b };
}

test('the kernel is available here (else this file tests nothing)', () => {
  expect(weightKernel()).toBeDefined();
});

describe.each([
  [8, true], [8, false], [4, true], [4, false],
] as [8 | 4, boolean][])('%i-bit, symmetric %s', (bits, symmetric) => {
  test.each([
    ['channel, last axis', [96, 68], { granularity: 'channel', axis: 1 }],
    ['block 32 along the first axis (partial last block)', [70, 36], { granularity: 'block', axis: 0, blockSize: 32 }],
    ['channel, wide rows (several chunks)', [300, 1024], { granularity: 'channel', axis: 1 }],
  ] as [string, number[], WeightLayout][])('%s: identical to the JS loops', (_, shape, layout) => {
    const w = values(shape[0] * shape[1], 7 + bits, shape[1]);
    const { a, b } = both(w, shape, layout, bits, symmetric);
    expect(Buffer.from(b.values.buffer).equals(Buffer.from(a.values.buffer))).toBe(true);
    expect(Buffer.from(b.scales.buffer).equals(Buffer.from(a.scales.buffer))).toBe(true);
    expect(Buffer.from(b.zeroPoints.buffer).equals(Buffer.from(a.zeroPoints.buffer))).toBe(true);
    expect(Object.is(b.sqnrDb, a.sqnrDb)).toBe(true);
  });
});

test('a non-finite weight is refused the same way on both paths', () => {
  const w = values(64 * 32, 3, 32);
  w[100] = NaN;
  for (const scalar of [true, false]) {
    useScalarWeightLoops(scalar);
    expect(() => quantizeWeight(w, [64, 32], { granularity: 'channel', axis: 1 }, intRange(8, true), 'w')).toThrow(/non-finite value \(NaN\) at element 100/);
    expect(() => quantizeWeight(w, [64, 32], { granularity: 'channel', axis: 1 }, intRange(8, false), 'w')).toThrow(/non-finite value \(NaN\) at element 100/);
  }
});

test.each([8, 4] as const)('a 4-layer MatMul model quantized to %i bits encodes to the same bytes on both paths', (bits) => {
  const encode = (scalar: boolean): Uint8Array => {
    useScalarWeightLoops(scalar);
    const m = matmulChain(4, 128);
    runPass(quantizePass(resolveQuantizeOptions({ bits })), m, { toolVersion: 'test' });
    return encodeOnnx(m);
  };
  expect(Buffer.from(encode(false)).equals(Buffer.from(encode(true)))).toBe(true);
});
