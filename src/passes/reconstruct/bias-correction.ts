/**
 * Bias correction (Nagel, van Baalen, Blankevoort & Welling, "Data-Free
 * Quantization Through Weight Equalization and Bias Correction", ICCV 2019,
 * §4.2, the empirical form): after W becomes Ŵ, the expected output of channel r
 * moves by E[(W − Ŵ)·x]_r = Σ_c (W − Ŵ)[r, c]·E[x_c]; adding that to the bias
 * makes the mean output over the calibration data what it was.
 * E[x] comes from the Hessian sink (HessianAccumulator.mean); for a conv it is
 * the mean im2col row, padding zeros included, per group.
 */

/** δ[r] = Σ_c (w − ŵ)[r, c] · mean[c], to add to the bias of output r (float64). */
export function biasCorrection(
  w: ArrayLike<number>, wq: ArrayLike<number>, rows: number, cols: number, mean: ArrayLike<number>,
): Float64Array {
  if (w.length !== rows * cols || wq.length !== rows * cols) throw new RangeError(`weights must have ${rows}×${cols} elements`);
  if (mean.length !== cols) throw new RangeError(`E[x] has ${mean.length} values, expected ${cols}`);
  const delta = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0, o = r * cols; c < cols; c++) s += (w[o + c] - wq[o + c]) * mean[c];
    delta[r] = s;
  }
  return delta;
}
