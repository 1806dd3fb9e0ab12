/**
 * GPTQ against a literal float64 transcription of IST-DASLab/gptq's fasterquant
 * (reference.ts, plain loops, no code shared with src/) on a 64×256 layer with
 * correlated inputs: the same integer levels exactly, the same dequantized
 * weights and loss to 1e-9. Then the point of it: a lower output error than
 * round-to-nearest on held-out inputs.
 */
import { NotPositiveDefiniteError, useScalarKernel } from '../../src/linalg';
import { gptqQuantize, transposeQuantized } from '../../src/passes/reconstruct';
import { intRange } from '../../src/passes/quantize/params';
import { dequantizeWeight, quantizeWeight, weightLayout } from '../../src/passes/quantize/weights';
import { correlatedInputs, outputError, plainHessian, toMat, weights } from './data';
import { refFasterquant, refGrid } from './reference';

const ROWS = 64;
const COLS = 256;
const N = 512;
const w = weights(ROWS, COLS, 11);
const x = correlatedInputs(N, COLS, 12);
const h = plainHessian(x, N, COLS);

const configs = [
  { bits: 4 as const, symmetric: true, groupSize: 32, actOrder: false, blockSize: 128 },
  { bits: 4 as const, symmetric: false, groupSize: 32, actOrder: true, blockSize: 128 },
  { bits: 4 as const, symmetric: true, groupSize: 0, actOrder: true, blockSize: 48 },
  { bits: 8 as const, symmetric: true, groupSize: 0, actOrder: false, blockSize: 128 },
  { bits: 8 as const, symmetric: false, groupSize: 64, actOrder: false, blockSize: 100 },
];

describe('gptqQuantize equals the transcription of gptq.py fasterquant', () => {
  for (const c of configs) {
    test(`int${c.bits} ${c.symmetric ? 'sym' : 'asym'} ${c.groupSize ? `group ${c.groupSize}` : 'per channel'}${c.actOrder ? ' act-order' : ''} block ${c.blockSize}`, () => {
      const got = gptqQuantize(w, ROWS, COLS, h, { ...c, percdamp: 0.01 });
      const grid = refGrid(toMat(w, ROWS, COLS), c.bits, c.symmetric, c.groupSize || COLS);
      const ref = refFasterquant(toMat(w, ROWS, COLS), toMat(h, COLS, COLS), grid, { blocksize: c.blockSize, percdamp: 0.01, actorder: c.actOrder });
      let levelDiffs = 0;
      let maxQ = 0;
      for (let r = 0; r < ROWS; r++) {
        for (let k = 0; k < COLS; k++) {
          if (got.weight.values[r * COLS + k] !== ref.levels[r][k]) levelDiffs++;
          maxQ = Math.max(maxQ, Math.abs(got.dequantized[r * COLS + k] - ref.Q[r][k]));
        }
      }
      expect(levelDiffs).toBe(0);
      expect(maxQ).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(got.loss - ref.losses)).toBeLessThanOrEqual(1e-9 * ref.losses);
      // The levels are not RTN's: the sweep changed some of them.
      const rtn = quantizeWeight(w, [ROWS, COLS], got.weight.layout, intRange(c.bits, c.symmetric), 'w');
      expect(got.weight.values.some((v, i) => v !== rtn.values[i])).toBe(true);
      // Round 1's form exactly: dtype, layout, scales, zero points.
      expect(got.weight.dtype).toBe(rtn.dtype);
      expect(got.weight.scaleShape).toEqual(rtn.scaleShape);
      expect(Array.from(got.weight.scales)).toEqual(Array.from(rtn.scales));
      expect(Array.from(got.weight.zeroPoints)).toEqual(Array.from(rtn.zeroPoints));
      // and what DequantizeLinear gives back from those levels is `dequantized`
      expect(Array.from(dequantizeWeight(got.weight, [ROWS, COLS]))).toEqual(Array.from(got.dequantized));
    });
  }

  test('a dead input (H[i,i] = 0) zeroes its column, as the reference does', () => {
    const hd = h.slice();
    const dead = 37;
    for (let j = 0; j < COLS; j++) { hd[dead * COLS + j] = 0; hd[j * COLS + dead] = 0; }
    const got = gptqQuantize(w, ROWS, COLS, hd, { bits: 4, symmetric: true, groupSize: 32 });
    expect(got.deadColumns).toEqual([dead]);
    const grid = refGrid(toMat(w, ROWS, COLS), 4, true, 32);
    const ref = refFasterquant(toMat(w, ROWS, COLS), toMat(hd, COLS, COLS), grid, { blocksize: 128, percdamp: 0.01, actorder: false });
    for (let r = 0; r < ROWS; r++) {
      expect(got.dequantized[r * COLS + dead]).toBe(0);
      for (let k = 0; k < COLS; k++) expect(got.weight.values[r * COLS + k]).toBe(ref.levels[r][k]);
    }
  });
});

describe('GPTQ against round-to-nearest', () => {
  test('lower ‖(W − Ŵ)X‖² on held-out inputs, int4 block 32 and int8 per channel', () => {
    const held = correlatedInputs(N, COLS, 99);
    for (const c of [{ bits: 4 as const, groupSize: 32 }, { bits: 8 as const, groupSize: 0 }]) {
      const g = gptqQuantize(w, ROWS, COLS, h, { ...c, symmetric: true });
      const rtn = dequantizeWeight(quantizeWeight(w, [ROWS, COLS], g.weight.layout, intRange(c.bits, true), 'w'), [ROWS, COLS]);
      const eg = outputError(w, g.dequantized, ROWS, COLS, held, N);
      const er = outputError(w, rtn, ROWS, COLS, held, N);
      // eslint-disable-next-line no-console
      console.log(`int${c.bits}: GPTQ/RTN output error on held-out inputs = ${(eg / er).toFixed(3)}`);
      expect(eg).toBeLessThan(er);
    }
  });
});

describe('bad input', () => {
  test('an indefinite H throws NotPositiveDefiniteError naming the column', () => {
    const n = 8;
    const hb = new Float64Array(n * n);
    for (let i = 0; i < n; i++) hb[i * n + i] = 1;
    hb[2 * n + 5] = hb[5 * n + 2] = 3; // [[1, 3], [3, 1]] block: eigenvalue −2
    let err: unknown;
    try {
      gptqQuantize(weights(4, n, 1), 4, n, hb, { bits: 4, symmetric: true, name: 'fc1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotPositiveDefiniteError);
    expect((err as NotPositiveDefiniteError).pivot).toBe(2);
    expect((err as Error).message).toMatch(/H of 'fc1'.*not positive definite.*pivot 2/);
  });
});

describe('determinism and layouts', () => {
  test('byte-identical across runs and between the wasm kernel and the scalar path', () => {
    const opts = { bits: 4 as const, symmetric: false, groupSize: 32, actOrder: true };
    const a = gptqQuantize(w, ROWS, COLS, h, opts);
    const b = gptqQuantize(w, ROWS, COLS, h, opts);
    useScalarKernel(true);
    let c;
    try { c = gptqQuantize(w, ROWS, COLS, h, opts); } finally { useScalarKernel(false); }
    for (const other of [b, c]) {
      expect(Buffer.from(other.weight.values.buffer).equals(Buffer.from(a.weight.values.buffer))).toBe(true);
      expect(Buffer.from(other.dequantized.buffer).equals(Buffer.from(a.dequantized.buffer))).toBe(true);
      expect(other.loss).toBe(a.loss);
    }
  });

  test.each([[32], [0]])('transposeQuantized gives round 1\'s layout of the [in, out] tensor (group %i)', (groupSize) => {
    // RTN on W [out, in] transposed must equal round 1's quantization of B = Wᵀ [in, out] exactly.
    const rows = 48;
    const cols = 96;
    const wt = weights(rows, cols, 5);
    const b = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) b[c * rows + r] = wt[r * cols + c];
    const range = intRange(4, false);
    const nk = quantizeWeight(wt, [rows, cols], weightLayout([rows, cols], groupSize ? 'block' : 'channel', groupSize, { outAxis: 0, inAxis: 1 }), range, 'w');
    const kn = quantizeWeight(b, [cols, rows], weightLayout([cols, rows], groupSize ? 'block' : 'channel', groupSize, { outAxis: 1, inAxis: 0 }), range, 'b');
    const t = transposeQuantized(nk, rows, cols);
    expect(t.layout).toEqual(kn.layout);
    expect(t.scaleShape).toEqual(kn.scaleShape);
    expect(Array.from(t.values)).toEqual(Array.from(kn.values));
    expect(Array.from(t.scales)).toEqual(Array.from(kn.scales));
    expect(Array.from(t.zeroPoints)).toEqual(Array.from(kn.zeroPoints));
  });
});

describe('Conv weights: round 1 blocks along input channels, one scale per spatial position', () => {
  test.each([[4, true], [4, false]] as const)('int%i sym=%s [16, 8, 3, 3] block 4 equals the transcription, with round 1\'s scales', (bits, sym) => {
    const shape = [16, 8, 3, 3];
    const [rows, cols] = [16, 72];
    const wc = weights(rows, cols, 91);
    const xc = correlatedInputs(300, cols, 92);
    const hc = plainHessian(xc, 300, cols);
    const got = gptqQuantize(wc, rows, cols, hc, { bits, symmetric: sym, groupSize: 4, shape, actOrder: true, blockSize: 32 });
    const rtn = quantizeWeight(wc, shape, weightLayout(shape, 'block', 4, { outAxis: 0, inAxis: 1 }), intRange(bits, sym), 'conv');
    expect(got.weight.scaleShape).toEqual([16, 2, 3, 3]);
    expect(Array.from(got.weight.scales)).toEqual(Array.from(rtn.scales));
    expect(Array.from(got.weight.zeroPoints)).toEqual(Array.from(rtn.zeroPoints));
    expect(Array.from(dequantizeWeight(got.weight, shape))).toEqual(Array.from(got.dequantized));
    const grid = refGrid(toMat(wc, rows, cols), bits, sym, 4, 9);
    const ref = refFasterquant(toMat(wc, rows, cols), toMat(hc, cols, cols), grid, { blocksize: 32, percdamp: 0.01, actorder: true });
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < cols; k++) {
        expect(got.weight.values[r * cols + k]).toBe(ref.levels[r][k]);
        expect(Math.abs(got.dequantized[r * cols + k] - ref.Q[r][k])).toBeLessThanOrEqual(1e-9);
      }
    }
  });
});
