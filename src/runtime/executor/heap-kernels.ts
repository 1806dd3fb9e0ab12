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
