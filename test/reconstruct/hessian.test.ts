/**
 * The Hessian sink against gptq.py's add_batch transcribed (reference.ts) over
 * uneven batches, and im2col against a direct convolution.
 */
import { HessianAccumulator, im2colRows } from '../../src/passes/reconstruct';
import { correlatedInputs, gaussian, toMat } from './data';
import { refHessian } from './reference';

test('HessianAccumulator equals add_batch over uneven batches (1e-12 relative)', () => {
  const cols = 70;
  const sizes = [5, 64, 1, 130];
  const x = correlatedInputs(sizes.reduce((a, b) => a + b, 0), cols, 3);
  const acc = new HessianAccumulator(cols);
  const batches: number[][][] = [];
  let at = 0;
  for (const s of sizes) {
    const b = x.subarray(at * cols, (at + s) * cols);
    acc.add(b, s);
    batches.push(toMat(b, s, cols));
    at += s;
  }
  const ref = refHessian(batches);
  const got = acc.hessian();
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) {
    scale = Math.max(scale, Math.abs(ref[i][j]));
    diff = Math.max(diff, Math.abs(got[i * cols + j] - ref[i][j]));
    expect(got[i * cols + j]).toBe(got[j * cols + i]);
  }
  expect(diff / scale).toBeLessThan(1e-12);
  expect(acc.samples).toBe(200);
});

test('samples count what the running average divides by (batch, not rows)', () => {
  const cols = 8;
  const x = correlatedInputs(12, cols, 4);
  const perRow = new HessianAccumulator(cols);
  perRow.add(x, 12);
  const perSeq = new HessianAccumulator(cols);
  perSeq.add(x, 12, 3); // 3 sequences of 4 tokens
  const a = perRow.hessian();
  const b = perSeq.hessian();
  for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i] * 4, 10);
});

test('im2col rows times the flattened weight equal a direct grouped, strided, padded, dilated conv', () => {
  const g = gaussian(5);
  const [n, c, ih, iw] = [2, 4, 7, 6];
  const [m, kh, kw] = [6, 3, 2];
  const group = 2;
  const geo = { kernel: [kh, kw] as [number, number], strides: [2, 1] as [number, number], pads: [1, 0, 2, 1] as [number, number, number, number], dilations: [1, 2] as [number, number], group };
  const x = Float32Array.from({ length: n * c * ih * iw }, () => g());
  const wt = Float32Array.from({ length: m * (c / group) * kh * kw }, () => g());
  const { rows, cols, groups } = im2colRows(x, [n, c, ih, iw], geo);
  const oh = Math.floor((ih + 1 + 2 - 1 * (kh - 1) - 1) / 2) + 1;
  const ow = Math.floor((iw + 0 + 1 - 2 * (kw - 1) - 1) / 1) + 1;
  expect(rows).toBe(n * oh * ow);
  expect(cols).toBe((c / group) * kh * kw);
  const mg = m / group;
  for (let b = 0; b < n; b++) for (let o = 0; o < m; o++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const gi = Math.floor(o / mg);
    // direct convolution (ONNX Conv semantics)
    let direct = 0;
    for (let cc = 0; cc < c / group; cc++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const y = oy * 2 - 1 + ky * 1;
      const xx = ox * 1 - 0 + kx * 2;
      if (y < 0 || y >= ih || xx < 0 || xx >= iw) continue;
      direct += wt[((o * (c / group) + cc) * kh + ky) * kw + kx] * x[((b * c + gi * (c / group) + cc) * ih + y) * iw + xx];
    }
    const row = (b * oh + oy) * ow + ox;
    let viaCols = 0;
    for (let k = 0; k < cols; k++) viaCols += wt[o * cols + k] * groups[gi][row * cols + k];
    expect(viaCols).toBeCloseTo(direct, 5);
  }
});
