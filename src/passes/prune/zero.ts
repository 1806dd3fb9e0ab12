import { dequantize, QUANT_BYTES } from '../../formats/tfjs/codec';
import { attachStorage, getTfjsQuantization } from '../../formats/tfjs/quantization';
import type { Tensor } from '../../ir';

/** The element form a pruned weight is written in, and why it is wider than it was stored, if it is. */
export interface ZeroedForm {
  /** 'float32', 'float16' (an ONNX float16 tensor), or the tfjs stored form ('tfjs float16', 'tfjs uint8', 'tfjs uint16'). */
  stored: string;
  /** Set when the weight was stored narrower and is now written as float32: why. */
  widened?: string;
}

/**
 * Sets the elements at `removed` to exactly zero, in the form the weight is stored in where
 * zero has an exact code, so pruning never makes a file larger:
 *  - float32: as it is;
 *  - ONNX float16: the two bytes of each element cleared (+0);
 *  - tfjs float16 storage (vladmandic/human's models are all stored so): cleared in the stored
 *    bytes, the manifest's quantization kept;
 *  - tfjs uint8/uint16 affine storage (value = q·scale + min): the code that tfjs decodes to
 *    exactly 0, when there is one.
 * Every other element keeps its stored code, so it decodes to the same value as before. A tfjs
 * affine weight with no exact zero code is written as float32, and `widened` says so.
 */
export function zeroElements(tensor: Tensor, removed: ArrayLike<number>): ZeroedForm {
  if (tensor.dtype === 'float16') {
    const bytes = Uint8Array.from(tensor.bytes());
    for (let i = 0; i < removed.length; i++) bytes[2 * removed[i]] = bytes[2 * removed[i] + 1] = 0;
    tensor.setData('float16', [...tensor.shape], { kind: 'bytes', bytes });
    return { stored: 'float16' };
  }
  const tq = getTfjsQuantization(tensor);
  if (tq && tensor.dtype === 'float32') {
    const q = tq.quantization;
    const width = QUANT_BYTES[q.dtype];
    const code = q.dtype === 'float16' ? 0 : zeroCode(q.dtype, q.scale ?? 0, q.min ?? 0);
    if (code !== undefined) {
      const stored = Uint8Array.from(tq.storedBytes);
      for (let i = 0; i < removed.length; i++) {
        stored[width * removed[i]] = code & 0xff;
        if (width === 2) stored[width * removed[i] + 1] = code >> 8;
      }
      attachStorage(tensor, 'float32', q, stored); // the manifest's quantization object as it was
      return { stored: `tfjs ${q.dtype}` };
    }
    writeFloat32(tensor, removed);
    return { stored: 'float32', widened: `stored as tfjs ${q.dtype} (min ${q.min}, scale ${q.scale}), where no code decodes to exactly 0: written as float32` };
  }
  writeFloat32(tensor, removed);
  return { stored: 'float32' };
}

function writeFloat32(tensor: Tensor, removed: ArrayLike<number>): void {
  const w = Float32Array.from(tensor.toFloat32()); // a copy: the original may view the input file
  for (let i = 0; i < removed.length; i++) w[removed[i]] = 0;
  tensor.setData('float32', [...tensor.shape], { kind: 'bytes', bytes: new Uint8Array(w.buffer) });
}

/** The affine code tfjs decodes to exactly 0 (decoded as tfjs-core does), if any. */
function zeroCode(dtype: 'uint8' | 'uint16', scale: number, min: number): number | undefined {
  if (!(scale > 0)) return undefined;
  const q = Math.round(-min / scale);
  const top = dtype === 'uint8' ? 0xff : 0xffff;
  if (q < 0 || q > top) return undefined;
  const one = dtype === 'uint8' ? Uint8Array.of(q) : Uint8Array.of(q & 0xff, q >> 8);
  return dequantize({ dtype, scale, min }, 'float32', one, 1)[0] === 0 ? q : undefined;
}
