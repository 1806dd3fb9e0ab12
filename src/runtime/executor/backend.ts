import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { maxPoolGradNHWC, patchRows, rotateFilter, spreadNHWC, type WasmHeap } from './heap-kernels';

/**
 * Up to this many input channels, Conv2DBackpropFilter multiplies the patch matrix by dy. Measured
 * against the dilated conv: 1 channel 1.2 vs 5.2 ms (32x28x28 -> 32), 3 channels 3.3-4.5 vs 6.4 ms,
 * 4 channels 2.8 vs 5.5 ms (16x32x32 -> 32), 3 channels at stride 2 even (8x56x56 -> 16); 32 channels
 * 23 vs 12.5 ms the other way (im2col + matmul, 32x14x14 -> 64).
 */
const PATCH_ROWS_MAX_CHANNELS = 4;
import type { TF } from './types';

/**
 * Gradient support for the tfjs wasm backend.
 *
 * tfjs 4.22's wasm backend has no Conv2DBackpropFilter kernel, so tf.grads through
 * a conv fails there (FACTS.md). The cpu backend has one but runs ~30x slower.
 * We register a wasm Conv2DBackpropFilter built from wasm forward kernels, using
 * the identity that a conv's weight gradient is itself a convolution:
 *
 *   dW[kh,kw,ci,co] = sum_{n,oh,ow} xpad[n, oh*sh + kh, ow*sw + kw, ci] * dy[n,oh,ow,co]
 *
 * i.e. a conv2d of x' = x^T[ci,H,W,n] (batch = ci, channels = n) with the filter
 * dy' = dy^T[OH,OW,n,co], stride 1 and dilation = the forward stride, cropped to kH x kW.
 * (tfjs itself refuses conv gradients with dilation > 1, so the forward dilation is 1.)
 * With few input channels the patch matrix (patchRows, kH·kW·ci rows) is small and its
 * plain product with dy is faster: dW[(kh,kw,ci), co] = rows · dy[(n,oh,ow), co].
 */
export function registerWasmConvBackpropFilter(tf: TF): boolean {
  if (!tf.getKernel('Conv2D', 'wasm') || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return false;
  const kernel = (name: string): KernelFunc => {
    const k = tf.getKernel(name, 'wasm');
    if (!k) throw new Error(`wasm kernel ${name} is missing`);
    return k.kernelFunc;
  };
  const conv2d = kernel('Conv2D');
  const transpose = kernel('Transpose');
  const slice = kernel('Slice');
  const reshape = kernel('Reshape');
  const matMul = kernel('BatchMatMul');

  const kernelFunc: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
    const backend = anyBackend as { disposeData(dataId: object): void };
    const x = inputs.x as TensorInfo;
    const dy = inputs.dy as TensorInfo;
    const a = attrs as NamedAttrMap & {
      strides: number | [number, number]; pad: 'valid' | 'same' | number | number[][];
      dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
    };
    if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm): NCHW is not supported');
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], a.filterShape, a.strides, 1,
      a.pad as Parameters<typeof tf.backend_util.computeConv2DInfo>[4], a.dimRoundingMode);
    const [kH, kW, ci, co] = a.filterShape;
    const [, H, W] = x.shape;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    const bottom = Math.max(0, kH - H - info.padInfo.top + sh * (info.outHeight - 1));
    const right = Math.max(0, kW - W - info.padInfo.left + sw * (info.outWidth - 1));
    const temps: TensorInfo[] = [];
    const temp = (t: TensorInfo): TensorInfo => {
      temps.push(t);
      return t;
    };
    const run = (f: KernelFunc, ins: Record<string, TensorInfo>, at: NamedAttrMap): TensorInfo =>
      temp(f({ inputs: ins, backend, attrs: at }) as TensorInfo);
    try {
      if (ci <= PATCH_ROWS_MAX_CHANNELS) {
        // Few input channels (a network's first layer): the patch matrix is small, and a plain matmul beats the conv below.
        const rows = temp(patchRows(backend as unknown as WasmHeap, x, kH, kW, [sh, sw], info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth));
        const dy2 = run(reshape, { x: dy }, { shape: [dy.shape[0] * info.outHeight * info.outWidth, co] });
        const dw = run(matMul, { a: rows, b: dy2 }, { transposeA: false, transposeB: false });
        return reshape({ inputs: { x: dw }, backend, attrs: { shape: [kH, kW, ci, co] } }) as TensorInfo;
      }
      const xt = run(transpose, { x }, { perm: [3, 1, 2, 0] });
      const dyt = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] });
      const full = run(conv2d, { x: xt, filter: dyt }, {
        strides: [1, 1], dilations: [sh, sw], dataFormat: 'NHWC',
        pad: [[0, 0], [info.padInfo.top, bottom], [info.padInfo.left, right], [0, 0]],
      });
      const cropped = run(slice, { x: full }, { begin: [0, 0, 0, 0], size: [ci, kH, kW, co] });
      const out = transpose({ inputs: { x: cropped }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
      return out;
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  const config: KernelConfig = { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc };
  tf.registerKernel(config);
  return true;
}

/**
 * A faster wasm Conv2DBackpropInput (tfjs 4.22's wasm one is a direct loop: 131 of 360 ms
 * of a batch-32 training step of the fixture CNN). The input gradient is a forward
 * convolution (XNNPACK) of dy with the filter rotated 180° and its channel axes swapped
 * (the transposed convolution):
 *
 *   dx[n,h,w,ci] = sum_{kh,kw,co} dy[n, oh, ow, co] * W[kh,kw,ci,co]   over h = oh*sh + kh - pt
 *                = conv2d(dy', W'[kh,kw,co,ci] = W[kH-1-kh, kW-1-kw, ci, co]), stride 1,
 *
 * where dy' is dy with padding kH-1-pt on top and kH-1-pb at the bottom (left/right alike).
 * With a stride, dy' is dy spread with sh-1 zeros between rows (sw-1 between columns) on a
 * grid of H + kH - 1 rows, so that the convolution is 'valid'; when (H + pt + pb - kH) is
 * not a multiple of sh the last rows of dx see only padding and the grid simply has no
 * dy there. NCHW keeps tfjs's own kernel.
 */
export function registerWasmConvBackpropInput(tf: TF): boolean {
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  const conv = tf.getKernel('Conv2D', 'wasm');
  if (!original || !conv || (original.kernelFunc as { mcFast?: boolean }).mcFast) return false;
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend: anyBackend, attrs } = args;
    const backend = anyBackend as { disposeData(dataId: object): void };
    const a = attrs as NamedAttrMap & {
      strides: number | [number, number]; pad: 'valid' | 'same' | number | number[][];
      dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
    };
    const dy = inputs.dy as TensorInfo;
    const filter = inputs.filter as TensorInfo;
    const [sh, sw] = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
    if (a.dataFormat === 'NCHW') return original.kernelFunc(args);
    const [kH, kW] = filter.shape;
    const [, H, W] = a.inputShape;
    const info = tf.backend_util.computeConv2DInfo(
      a.inputShape, filter.shape as [number, number, number, number], a.strides, 1,
      a.pad as Parameters<typeof tf.backend_util.computeConv2DInfo>[4], a.dimRoundingMode);
    const { top, bottom, left, right } = info.padInfo;
    const direct = sh === 1 && sw === 1 && Math.max(top, bottom) <= kH - 1 && Math.max(left, right) <= kW - 1;
    const temps: TensorInfo[] = [];
    const temp = (t: TensorInfo): TensorInfo => {
      temps.push(t);
      return t;
    };
    try {
      const swapped = temp(rotateFilter(anyBackend as unknown as WasmHeap, filter, true));
      // Strided (or padded beyond the kernel): spread dy onto the full convolution's grid first.
      const src = direct ? dy : temp(spreadNHWC(anyBackend as unknown as WasmHeap, dy, [sh, sw], kH - 1 - top, kW - 1 - left, H + kH - 1, W + kW - 1));
      const pad = direct ? [[0, 0], [kH - 1 - top, kH - 1 - bottom], [kW - 1 - left, kW - 1 - right], [0, 0]] : 'valid';
      return conv.kernelFunc({
        inputs: { x: src, filter: swapped }, backend: anyBackend,
        attrs: { strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC', pad } as unknown as NamedAttrMap,
      }) as TensorInfo;
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  (kernelFunc as { mcFast?: boolean }).mcFast = true;
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
  return true;
}

/**
 * UnsortedSegmentSum for wasm, which tfjs 4.22's wasm backend lacks: it is the gradient
 * of Gather (and of Slice with steps, which gathers), a scatter-add
 *   out[ids[i], j] += x[i, j]    (ids outside [0, numSegments) are dropped, as in tf)
 * written as a plain loop over the wasm heap; the summation order is fixed, so results
 * repeat exactly.
 */
export function registerWasmUnsortedSegmentSum(tf: TF): boolean {
  if (!tf.getKernel('Transpose', 'wasm') || tf.getKernel('UnsortedSegmentSum', 'wasm')) return false;
  type WasmBackend = {
    makeOutput(shape: number[], dtype: string): TensorInfo;
    typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  };
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const b = backend as unknown as WasmBackend;
    const x = inputs.x as TensorInfo;
    const ids = inputs.segmentIds as TensorInfo;
    const num = (attrs as { numSegments: number }).numSegments;
    const n = ids.shape.reduce((p, d) => p * d, 1);
    const inner = n ? x.shape.reduce((p, d) => p * d, 1) / n : 0;
    const out = b.makeOutput([num, ...x.shape.slice(ids.shape.length)], x.dtype);
    const o = b.typedArrayFromHeap(out);
    o.fill(0);
    const xv = b.typedArrayFromHeap(x);
    const iv = b.typedArrayFromHeap(ids);
    for (let i = 0; i < n; i++) {
      const seg = iv[i];
      if (seg < 0 || seg >= num) continue;
      for (let j = 0; j < inner; j++) o[seg * inner + j] += xv[i * inner + j];
    }
    return out;
  };
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc });
  return true;
}

/**
 * Depthwise conv gradients for wasm (tfjs 4.22's wasm backend has neither), for any
 * stride and channel multiplier M (ONNX Conv with group = C and M filters per channel;
 * output channel c*M + m reads input channel c), built from the wasm
 * DepthwiseConv2dNative forward kernel:
 *
 *  - filter: dW[kh,kw,c,m] = sum_{n,oh,ow} xpad[n, oh*sh + kh, ow*sw + kw, c] * dy[n,oh,ow,c*M+m]
 *    is, with the batch moved into the channels (x' [1,H,W,N*C], dy' [OH,OW,N*C,M]), one
 *    depthwise conv of x' with filter dy' at dilation = the forward stride, cropped to
 *    kH x kW and summed over n.
 *  - input: dx = depthwise conv of dy' with the filter rotated 180° (the transposed
 *    convolution, dy' padded, or spread for a stride, exactly as for Conv2DBackpropInput
 *    above), then for M > 1 summed over m.
 */
export function registerWasmDepthwiseBackprop(tf: TF): boolean {
  const get = (n: string) => tf.getKernel(n, 'wasm');
  const dw = get('DepthwiseConv2dNative');
  const transposeK = get('Transpose');
  const reshapeK = get('Reshape');
  const sliceK = get('Slice');
  const sumK = get('Sum');
  if (!dw || !transposeK || !reshapeK || !sliceK || !sumK || get('DepthwiseConv2dNativeBackpropFilter')) return false;
  type A = NamedAttrMap & {
    strides: number | [number, number]; pad: 'valid' | 'same' | number | number[][]; dilations?: number | [number, number];
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape?: [number, number, number, number]; inputShape?: [number, number, number, number];
  };
  const pair = (v: number | [number, number] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);
  const runner = (backend: unknown) => {
    const temps: TensorInfo[] = [];
    const temp = (t: TensorInfo): TensorInfo => {
      temps.push(t);
      return t;
    };
    const run = (k: KernelConfig, ins: Record<string, TensorInfo>, at: NamedAttrMap): TensorInfo =>
      temp(k.kernelFunc({ inputs: ins, backend: backend as never, attrs: at }) as TensorInfo);
    const free = () => {
      for (const t of temps) (backend as { disposeData(d: object): void }).disposeData(t.dataId);
    };
    return { run, temp, free };
  };
  const padInfo = (xShape: number[], fShape: number[], a: A) => tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], fShape as [number, number, number, number], a.strides, 1,
    a.pad as Parameters<typeof tf.backend_util.computeConv2DInfo>[4], a.dimRoundingMode, true);

  const filterFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const a = attrs as A;
    const x = inputs.x as TensorInfo;
    const dy = inputs.dy as TensorInfo;
    const [kH, kW, C, mult] = a.filterShape!;
    const [N, H, W] = x.shape;
    const info = padInfo(x.shape, a.filterShape!, a);
    const [sh, sw] = pair(a.strides);
    const bottom = Math.max(0, kH - H - info.padInfo.top + sh * (info.outHeight - 1));
    const right = Math.max(0, kW - W - info.padInfo.left + sw * (info.outWidth - 1));
    const { run, free } = runner(backend);
    try {
      const xt = run(reshapeK, { x: run(transposeK, { x }, { perm: [1, 2, 0, 3] }) }, { shape: [1, H, W, N * C] });
      const dyt = run(reshapeK, { x: run(transposeK, { x: dy }, { perm: [1, 2, 0, 3] }) }, { shape: [info.outHeight, info.outWidth, N * C, mult] });
      const full = run(dw, { x: xt, filter: dyt }, {
        strides: [1, 1], dilations: [sh, sw], pad: [[0, 0], [info.padInfo.top, bottom], [info.padInfo.left, right], [0, 0]],
      });
      const cropped = run(sliceK, { x: full }, { begin: [0, 0, 0, 0], size: [1, kH, kW, N * C * mult] });
      const split = run(reshapeK, { x: cropped }, { shape: [kH, kW, N, C * mult] });
      const summed = run(sumK, { x: split }, { axis: [2], keepDims: false });
      return reshapeK.kernelFunc({ inputs: { x: summed }, backend, attrs: { shape: [kH, kW, C, mult] } }) as TensorInfo;
    } finally {
      free();
    }
  };

  const inputFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const a = attrs as A;
    const dy = inputs.dy as TensorInfo;
    const filter = inputs.filter as TensorInfo;
    const [kH, kW, C, mult] = filter.shape;
    const [N, H, W] = a.inputShape!;
    const [sh, sw] = pair(a.strides);
    const info = padInfo(a.inputShape!, filter.shape, a);
    const { top, bottom, left, right } = info.padInfo;
    const { run, temp, free } = runner(backend);
    try {
      const flat = mult === 1 ? filter : run(reshapeK, { x: filter }, { shape: [kH, kW, C * mult, 1] });
      const flipped = temp(rotateFilter(backend as unknown as WasmHeap, flat, false));
      const direct = sh === 1 && sw === 1 && Math.max(top, bottom) <= kH - 1 && Math.max(left, right) <= kW - 1;
      // Strided (or padded beyond the kernel): spread dy onto the full convolution's grid first.
      const src = direct ? dy : temp(spreadNHWC(backend as unknown as WasmHeap, dy, [sh, sw], kH - 1 - top, kW - 1 - left, H + kH - 1, W + kW - 1));
      const pad = direct ? [[0, 0], [kH - 1 - top, kH - 1 - bottom], [kW - 1 - left, kW - 1 - right], [0, 0]] : 'valid';
      const convAttrs = { strides: [1, 1], dilations: [1, 1], pad } as unknown as NamedAttrMap;
      if (mult === 1) return dw.kernelFunc({ inputs: { x: src, filter: flipped }, backend, attrs: convAttrs }) as TensorInfo;
      // Channel multiplier M: output channel c*M + m came from input channel c, so dx sums over m.
      const full = run(dw, { x: src, filter: flipped }, convAttrs);
      const split = run(reshapeK, { x: full }, { shape: [N, H, W, C, mult] });
      return sumK.kernelFunc({ inputs: { x: split }, backend, attrs: { axis: [4], keepDims: false } }) as TensorInfo;
    } finally {
      free();
    }
  };
  tf.registerKernel({ kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: 'wasm', kernelFunc: filterFunc });
  tf.registerKernel({ kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: 'wasm', kernelFunc: inputFunc });
  return true;
}

/**
 * Replaces tfjs 4.22's wasm MaxPoolGrad with maxPoolGradNHWC (heap-kernels.ts): about 5x
 * faster on the fixture CNN, and right where the wasm one is wrong (windows whose maximum
 * is ≤ 0; see there).
 */
export function registerWasmMaxPoolGrad(tf: TF): boolean {
  const original = tf.getKernel('MaxPoolGrad', 'wasm');
  if (!original || (original.kernelFunc as { mcFast?: boolean }).mcFast) return false;
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const a = attrs as NamedAttrMap & {
      filterSize: number | [number, number]; strides: number | [number, number];
      pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    const x = inputs.input as TensorInfo;
    const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
    return maxPoolGradNHWC(backend as unknown as WasmHeap, inputs.dy as TensorInfo, x, {
      outHeight: info.outHeight, outWidth: info.outWidth, strideHeight: info.strideHeight, strideWidth: info.strideWidth,
      filterHeight: info.filterHeight, filterWidth: info.filterWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left,
    });
  };
  (kernelFunc as { mcFast?: boolean }).mcFast = true;
  tf.unregisterKernel('MaxPoolGrad', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
  return true;
}

/**
 * tfjs 4.22's wasm BatchMatMul is fast (XNNPACK) only for a single [M,K]×[K,N] product with
 * neither operand transposed; a transposed 2-D operand takes a slow loop (a weight gradient
 * x^T·dy of the char-LM fixture, [2048,512]^T × [2048,128]: 267 ms, against 18 ms with the
 * operand transposed first). Training multiplies by transposes in every linear layer's
 * backward, so 2-D products transpose explicitly (wasm Transpose) and take the fast path.
 * Batched products keep tfjs's kernel (transposing first does not make them faster).
 */
export function registerWasmBatchMatMul(tf: TF): boolean {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transposeK = tf.getKernel('Transpose', 'wasm');
  if (!original || !transposeK || (original.kernelFunc as { mcFast?: boolean }).mcFast) return false;
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    const batch = (t: TensorInfo) => t.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    if ((!transposeA && !transposeB) || batch(a) !== 1 || batch(b) !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') return original.kernelFunc(args);
    const temps: TensorInfo[] = [];
    const flip = (t: TensorInfo): TensorInfo => {
      const r = t.shape.length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const out = transposeK.kernelFunc({ inputs: { x: t }, backend, attrs: { perm } }) as TensorInfo;
      temps.push(out);
      return out;
    };
    try {
      return original.kernelFunc({
        inputs: { a: transposeA ? flip(a) : a, b: transposeB ? flip(b) : b }, backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) (backend as unknown as WasmHeap).disposeData(t.dataId);
    }
  };
  (kernelFunc as { mcFast?: boolean }).mcFast = true;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
  return true;
}

/**
 * Makes `name` the active backend (wasm by default), registering the gradient
 * kernels wasm lacks. Returns the backend in use.
 */
export async function useGradientBackend(tf: TF, name: 'wasm' | 'cpu' = 'wasm'): Promise<string> {
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmConvBackpropFilter(tf);
    registerWasmConvBackpropInput(tf);
    registerWasmUnsortedSegmentSum(tf);
    registerWasmDepthwiseBackprop(tf);
    registerWasmMaxPoolGrad(tf);
    registerWasmBatchMatMul(tf);
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tfjs backend '${name}' failed to initialize`);
  }
  await tf.ready();
  return tf.getBackend();
}
