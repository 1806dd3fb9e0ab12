/**
 * SparseGPT against a literal float64 transcription of IST-DASLab/sparsegpt's
 * fasterprune (reference.ts): unstructured 50%, 2:4, and pruning with the kept
 * weights quantized in the same pass. Same mask exactly, same weights to 1e-9.
 */
import { layerSparsities, sparsegptPrune, sparsegptScores } from '../../src/passes/reconstruct';
import { correlatedInputs, outputError, plainHessian, toMat, weights } from './data';
import { refFasterprune, refGrid } from './reference';

const ROWS = 64;
const COLS = 256;
const N = 512;
const w = weights(ROWS, COLS, 21);
const x = correlatedInputs(N, COLS, 22);
const h = plainHessian(x, N, COLS);

const cases = [
  { label: 'unstructured 50%', sparsity: 0.5, prunen: 0, prunem: 0, blockSize: 128 },
  { label: 'unstructured 90%, block 100', sparsity: 0.9, prunen: 0, prunem: 0, blockSize: 100 },
  { label: '2:4', sparsity: 0, prunen: 2, prunem: 4, blockSize: 128 },
  { label: '50% + int4 sym block 32', sparsity: 0.5, prunen: 0, prunem: 0, blockSize: 128, quant: { bits: 4 as const, symmetric: true, groupSize: 32 } },
  { label: '2:4 + int8 asym per channel', sparsity: 0, prunen: 2, prunem: 4, blockSize: 64, quant: { bits: 8 as const, symmetric: false, groupSize: 0 } },
];

describe('sparsegptPrune equals the transcription of sparsegpt.py fasterprune', () => {
  for (const c of cases) {
    test(c.label, () => {
      const got = sparsegptPrune(w, ROWS, COLS, h, { sparsity: c.sparsity, prunen: c.prunen, prunem: c.prunem, blockSize: c.blockSize, quantize: c.quant });
      const grid = c.quant ? refGrid(toMat(w, ROWS, COLS), c.quant.bits, c.quant.symmetric, c.quant.groupSize || COLS) : undefined;
      const ref = refFasterprune(toMat(w, ROWS, COLS), toMat(h, COLS, COLS), { ...c, blocksize: c.blockSize, percdamp: 0.01, grid });
      let maskDiffs = 0;
      let maxW = 0;
      let levelDiffs = 0;
      let pruned = 0;
      for (let r = 0; r < ROWS; r++) {
        for (let k = 0; k < COLS; k++) {
          const i = r * COLS + k;
          if (got.mask[i] !== ref.mask[r][k]) maskDiffs++;
          pruned += got.mask[i];
          maxW = Math.max(maxW, Math.abs(got.weights[i] - Math.fround(ref.W[r][k])));
          if (ref.levels && got.quantized!.values[i] !== ref.levels[r][k]) levelDiffs++;
          if (got.mask[i]) expect(got.weights[i]).toBe(0);
        }
      }
      expect(maskDiffs).toBe(0);
      expect(levelDiffs).toBe(0);
      expect(maxW).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(got.loss - ref.losses)).toBeLessThanOrEqual(1e-9 * ref.losses);
      if (c.prunen) {
        expect(pruned).toBe((ROWS * COLS * c.prunen) / c.prunem);
        for (let i = 0; i < ROWS * COLS; i += 4) expect(got.mask[i] + got.mask[i + 1] + got.mask[i + 2] + got.mask[i + 3]).toBe(2);
      } else {
        expect(pruned / (ROWS * COLS)).toBeGreaterThanOrEqual(c.sparsity);
      }
    });
  }
});

describe('SparseGPT against magnitude pruning', () => {
  test('lower ‖(W − Ŵ)X‖² on held-out inputs at 50% and 2:4', () => {
    const held = correlatedInputs(N, COLS, 77);
    const got = sparsegptPrune(w, ROWS, COLS, h, { sparsity: 0.5 });
    const k = got.mask.reduce((a, b) => a + b, 0);
    // magnitude: the k smallest |w| of the layer
    const order = Array.from(w.keys()).sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]) || a - b);
    const mag = Float32Array.from(w);
    for (let i = 0; i < k; i++) mag[order[i]] = 0;
    const es = outputError(w, got.weights, ROWS, COLS, held, N);
    const em = outputError(w, mag, ROWS, COLS, held, N);
    // eslint-disable-next-line no-console
    console.log(`50%: SparseGPT/magnitude output error on held-out inputs = ${(es / em).toFixed(3)}`);
    expect(es).toBeLessThan(em);
  });

  test('global allocation: layerSparsities ranks the scores of all layers together', () => {
    const s1 = sparsegptScores(w, ROWS, COLS, h);
    const s2 = s1.map((v) => v * 100); // a second layer whose scores are all larger
    const [a, b] = layerSparsities([s1, s2], 0.5);
    expect(a).toBeGreaterThan(0.5);
    expect(b).toBeLessThan(0.5);
    expect((a * s1.length + b * s2.length) / (s1.length + s2.length)).toBeCloseTo(0.5, 3);
  });
});
