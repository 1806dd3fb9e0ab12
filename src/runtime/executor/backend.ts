import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
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
    const run = (f: KernelFunc, ins: Record<string, TensorInfo>, at: NamedAttrMap): TensorInfo => {
      const out = f({ inputs: ins, backend, attrs: at }) as TensorInfo;
      temps.push(out);
      return out;
    };
    try {
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
 * Makes `name` the active backend (wasm by default), registering the gradient
 * kernels wasm lacks. Returns the backend in use.
 */
export async function useGradientBackend(tf: TF, name: 'wasm' | 'cpu' = 'wasm'): Promise<string> {
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmConvBackpropFilter(tf);
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tfjs backend '${name}' failed to initialize`);
  }
  await tf.ready();
  return tf.getBackend();
}
