/**
 * im2col for TensorFlow's NHWC convolutions (tfjs Conv2D / _FusedConv2D and
 * Keras Conv2D with channels_last): the rows GPTQ/SparseGPT see for a weight
 * stored [kh, kw, cin, cout]. Viewed as [kh·kw·cin, cout] that weight is Wᵀ
 * with the columns of W in the order (ky, kx, c), so each row of X here has
 * the same order: column (ky·kw + kx)·C + c.
 *
 * Padding as TensorFlow defines it (tensorflow/core/framework/kernel_shape_util.cc,
 * GetWindowedOutputSizeVerbose): VALID pads nothing; SAME gives
 * out = ⌈in/stride⌉ and pads max((out − 1)·stride + (k − 1)·dilation + 1 − in, 0)
 * in total, the smaller half before.
 */
export interface NhwcConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'SAME' | 'VALID';
}

function padsOf(size: number, k: number, s: number, d: number, padding: 'SAME' | 'VALID'): { out: number; before: number } {
  const ek = (k - 1) * d + 1;
  if (padding === 'VALID') return { out: Math.floor((size - ek) / s) + 1, before: 0 };
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + ek - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/** X [N, H, W, C] → rows [N·OH·OW, kh·kw·C] (float32), column (ky·kw + kx)·C + c. */
export function im2colNhwc(x: Float32Array, shape: readonly [number, number, number, number], geo: NhwcConvGeometry): { rows: number; cols: number; data: Float32Array } {
  const [n, ih, iw, c] = shape;
  const [kh, kw] = geo.kernel;
  const [sh, sw] = geo.strides;
  const [dh, dw] = geo.dilations;
  const py = padsOf(ih, kh, sh, dh, geo.padding);
  const px = padsOf(iw, kw, sw, dw, geo.padding);
  const oh = py.out;
  const ow = px.out;
  const cols = kh * kw * c;
  const rows = n * oh * ow;
  const out = new Float32Array(rows * cols);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const ro = ((b * oh + oy) * ow + ox) * cols;
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * sh - py.before + ky * dh;
          if (y < 0 || y >= ih) continue;
          for (let kx = 0; kx < kw; kx++) {
            const xx = ox * sw - px.before + kx * dw;
            if (xx < 0 || xx >= iw) continue;
            const src = ((b * ih + y) * iw + xx) * c;
            out.set(x.subarray(src, src + c), ro + (ky * kw + kx) * c);
          }
        }
      }
    }
  }
  return { rows, cols, data: out };
}
