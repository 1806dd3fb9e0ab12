import type { TensorInfo } from '@tensorflow/tfjs';

/**
 * Small loops over the tfjs wasm backend's heap, for the data movement that tfjs 4.22's
 * wasm kernels lack. Each writes a fresh output in a fixed order, so results repeat exactly.
 */

/** The parts of tfjs-backend-wasm's BackendWasm these loops use. */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): void;
}

/**
 * Spreads an NHWC tensor onto a zero grid: out[n, top + i*sh, left + j*sw, c] = x[n, i, j, c]
 * in an [N, outH, outW, C] output; positions that fall outside it are dropped. A strided
 * convolution's input gradient is the stride-1 transposed convolution of dy spread this way
 * (zeros between rows and columns, and the border padding of the full convolution).
 */
export function spreadNHWC(b: WasmHeap, x: TensorInfo, stride: [number, number], top: number, left: number, outH: number, outW: number): TensorInfo {
  const [N, H, W, C] = x.shape;
  const [sh, sw] = stride;
  const out = b.makeOutput([N, outH, outW, C], 'float32');
  const o = b.typedArrayFromHeap(out) as Float32Array;
  const v = b.typedArrayFromHeap(x) as Float32Array;
  o.fill(0);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < H; i++) {
      const r = top + i * sh;
      if (r < 0 || r >= outH) continue;
      for (let j = 0; j < W; j++) {
        const q = left + j * sw;
        if (q < 0 || q >= outW) continue;
        const src = ((n * H + i) * W + j) * C;
        o.set(v.subarray(src, src + C), ((n * outH + r) * outW + q) * C);
      }
    }
  }
  return out;
}

/** Pooling geometry (tfjs's Conv2DInfo fields that max pooling uses). */
export interface PoolGeometry {
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  filterHeight: number;
  filterWidth: number;
  padTop: number;
  padLeft: number;
}

/**
 * Max pooling's input gradient, NHWC: each dy goes to the first position of its window (in
 * row-major order) that holds the window's maximum, as tfjs's cpu kernel and torch do; when
 * windows overlap, contributions add. tfjs 4.22's wasm MaxPoolGrad is slow (30 of 130 ms of a
 * training step of the fixture CNN) and wrong for windows whose maximum is ≤ 0: an all-negative
 * window sends its gradient to its first element rather than its maximum, an all-zero window
 * drops it (seen on hard-swish activations).
 */
export function maxPoolGradNHWC(b: WasmHeap, dy: TensorInfo, x: TensorInfo, g: PoolGeometry): TensorInfo {
  const [N, H, W, C] = x.shape;
  const { outHeight: OH, outWidth: OW } = g;
  const out = b.makeOutput([N, H, W, C], 'float32');
  const dx = b.typedArrayFromHeap(out) as Float32Array;
  const xv = b.typedArrayFromHeap(x) as Float32Array;
  const dv = b.typedArrayFromHeap(dy) as Float32Array;
  dx.fill(0);
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * g.strideHeight - g.padTop;
      const hs = Math.max(0, h0);
      const h1 = Math.min(H, h0 + g.filterHeight);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * g.strideWidth - g.padLeft;
        const ws = Math.max(0, w0);
        const w1 = Math.min(W, w0 + g.filterWidth);
        if (hs >= h1 || ws >= w1) continue; // a window wholly in the padding takes no gradient
        // The window's first element starts each channel's maximum; later ones replace it only when greater (first maximum wins).
        const first = ((n * H + hs) * W + ws) * C;
        for (let c = 0; c < C; c++) {
          best[c] = xv[first + c];
          at[c] = first + c;
        }
        for (let h = hs; h < h1; h++) {
          for (let w = h === hs ? ws + 1 : ws; w < w1; w++) {
            const base = ((n * H + h) * W + w) * C;
            for (let c = 0; c < C; c++) {
              const v = xv[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const dBase = ((n * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) dx[at[c]] += dv[dBase + c];
      }
    }
  }
  return out;
}

/**
 * A convolution filter [kH, kW, A, B] rotated 180° in space, with its two channel axes
 * swapped when `swap` ([kH, kW, B, A]): the filter of the transposed convolution, in one
 * pass (the wasm Reverse kernel alone took 1.3 ms on a 3x3x64x64 filter).
 */
export function rotateFilter(b: WasmHeap, w: TensorInfo, swap: boolean): TensorInfo {
  const [kH, kW, A, B] = w.shape;
  const out = b.makeOutput(swap ? [kH, kW, B, A] : [kH, kW, A, B], 'float32');
  const o = b.typedArrayFromHeap(out) as Float32Array;
  const v = b.typedArrayFromHeap(w) as Float32Array;
  const tap = A * B;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const dst = (kh * kW + kw) * tap;
      const src = ((kH - 1 - kh) * kW + (kW - 1 - kw)) * tap;
      if (!swap) {
        o.set(v.subarray(src, src + tap), dst);
        continue;
      }
      for (let a = 0; a < A; a++) for (let c = 0; c < B; c++) o[dst + c * A + a] = v[src + a * B + c];
    }
  }
  return out;
}

/**
 * The transposed patch matrix of an NHWC input for a kH x kW convolution ("im2col", one row
 * per filter tap): out[(kh*kW + kw)*C + c, (n*OH + oh)*OW + ow] = x[n, oh*sh + kh - top,
 * ow*sw + kw - left, c], zero where that falls in the padding. A conv's weight gradient is
 * then the plain product out · dy[N*OH*OW, Co], which takes the wasm backend's fast matmul.
 */
export function patchRows(b: WasmHeap, x: TensorInfo, kH: number, kW: number, stride: [number, number], top: number, left: number, OH: number, OW: number): TensorInfo {
  const [N, H, W, C] = x.shape;
  const [sh, sw] = stride;
  const P = N * OH * OW;
  const out = b.makeOutput([kH * kW * C, P], 'float32');
  const o = b.typedArrayFromHeap(out) as Float32Array;
  const v = b.typedArrayFromHeap(x) as Float32Array;
  o.fill(0);
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      // Output columns whose input column is inside the image: iw = ow*sw + kw - left in [0, W).
      const ow0 = Math.max(0, Math.ceil((left - kw) / sw));
      const ow1 = Math.min(OW, Math.floor((W - 1 + left - kw) / sw) + 1);
      for (let c = 0; c < C; c++) {
        const row = ((kh * kW + kw) * C + c) * P;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh + kh - top;
            if (ih < 0 || ih >= H) continue;
            const dst = row + (n * OH + oh) * OW;
            const src = (n * H + ih) * W;
            for (let ow = ow0; ow < ow1; ow++) o[dst + ow] = v[(src + ow * sw + kw - left) * C + c];
          }
        }
      }
    }
  }
  return out;
}
