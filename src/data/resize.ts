/**
 * Bilinear resampling of interleaved float images (HWC), as Pillow does it
 * (libImaging/Resample.c, precompute_coeffs): a separable triangle filter on
 * half-pixel centres (align_corners=False), whose support widens by the
 * scale factor when shrinking, so downscaling averages (antialiases) rather
 * than skipping pixels. When enlarging this is exactly the classic bilinear
 * interpolation with edge clamping, and it matches
 * torch.nn.functional.interpolate(mode='bilinear', align_corners=False,
 * antialias=True) and torchvision's Resize on PIL images. Unlike Pillow we
 * keep float32 between the two passes instead of rounding to uint8.
 */

/** The output window to produce, in the coordinates of the full resized image (for a fused centre crop). */
export interface Window {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

interface Coefficients {
  readonly start: Int32Array;
  readonly len: Int32Array;
  readonly ksize: number;
  readonly weights: Float64Array;
}

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** Filter taps for output pixels first .. first+count-1 of an inSize → outSize resize along one axis. */
function coefficients(inSize: number, outSize: number, first: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle filter has support 1
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count);
  const len = new Int32Array(count);
  const weights = new Float64Array(count * ksize);
  for (let k = 0; k < count; k++) {
    const center = (first + k + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let x = xmin; x < xmax; x++) {
      const w = triangle((x - center + 0.5) / filterScale);
      weights[k * ksize + x - xmin] = w;
      total += w;
    }
    if (total !== 0) for (let x = 0; x < xmax - xmin; x++) weights[k * ksize + x] /= total;
    start[k] = xmin;
    len[k] = xmax - xmin;
  }
  return { start, len, ksize, weights };
}

/**
 * Resizes an h×w image with c interleaved channels to outH×outW and returns
 * `win` of the result (the whole result by default), HWC float32.
 */
export function resizeBilinear(
  src: Float32Array, h: number, w: number, c: number, outH: number, outW: number,
  win: Window = { top: 0, left: 0, height: outH, width: outW },
): Float32Array {
  // Horizontal pass over every source row, then vertical pass: Pillow's order.
  const cx = coefficients(w, outW, win.left, win.width);
  const mid = new Float32Array(h * win.width * c);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let j = 0; j < win.width; j++) {
      const s = cx.start[j], n = cx.len[j], wo = j * cx.ksize;
      const o = (y * win.width + j) * c;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let t = 0; t < n; t++) acc += src[row + (s + t) * c + ch] * cx.weights[wo + t];
        mid[o + ch] = acc;
      }
    }
  }
  const cy = coefficients(h, outH, win.top, win.height);
  const out = new Float32Array(win.height * win.width * c);
  const stride = win.width * c;
  for (let i = 0; i < win.height; i++) {
    const s = cy.start[i], n = cy.len[i], wo = i * cy.ksize;
    for (let k = 0; k < stride; k++) {
      let acc = 0;
      for (let t = 0; t < n; t++) acc += mid[(s + t) * stride + k] * cy.weights[wo + t];
      out[i * stride + k] = acc;
    }
  }
  return out;
}
