/**
 * Bias correction: with δ from the sink's E[x], the mean output shift of the
 * quantized layer over the calibration data, measured per channel by running
 * the layer, goes to zero (it was not zero before).
 */
import { intRange } from '../../src/passes/quantize/params';
import { dequantizeWeight, quantizeWeight } from '../../src/passes/quantize/weights';
import { biasCorrection, HessianAccumulator } from '../../src/passes/reconstruct';
import { correlatedInputs, weights } from './data';

test('δ = (W − Ŵ)·E[x] removes the mean output shift per channel', () => {
  const [rows, cols, n] = [16, 64, 300];
  const w = weights(rows, cols, 41);
  const x = correlatedInputs(n, cols, 42).map((v) => v + 0.7); // inputs with a non-zero mean
  const wq = dequantizeWeight(quantizeWeight(w, [rows, cols], { granularity: 'block', axis: 1, blockSize: 32 }, intRange(4, true), 'w'), [rows, cols]);
  const acc = new HessianAccumulator(cols);
  acc.add(x.subarray(0, 100 * cols), 100);
  acc.add(x.subarray(100 * cols), 200);
  const mean = acc.mean();
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < n; r++) s += x[r * cols + c];
    expect(mean[c]).toBeCloseTo(s / n, 12);
  }
  const delta = biasCorrection(w, wq, rows, cols, mean);
  let before = 0;
  for (let o = 0; o < rows; o++) {
    // mean over the data of (W·x + b) − (Ŵ·x + b + δ), by running both layers
    let shift = 0;
    for (let r = 0; r < n; r++) {
      let y = 0;
      let yq = 0;
      for (let c = 0; c < cols; c++) { y += w[o * cols + c] * x[r * cols + c]; yq += wq[o * cols + c] * x[r * cols + c]; }
      shift += y - (yq + delta[o]);
    }
    expect(Math.abs(shift / n)).toBeLessThan(1e-12);
    before = Math.max(before, Math.abs(delta[o]));
  }
  expect(before).toBeGreaterThan(1e-4); // there was a shift to remove
});
