/**
 * Explicit begin/end pads for ONNX Conv and pooling (onnx.ai/onnx/operators/onnx__Conv.html):
 * auto_pad SAME_UPPER / SAME_LOWER give output = ceil(in / stride), with the odd pixel
 * at the end (UPPER) or the beginning (LOWER); VALID pads nothing; NOTSET uses `pads`
 * ([x1_begin, x2_begin, ..., x1_end, x2_end, ...]).
 */
export function explicitPads(
  inSpatial: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[],
  autoPad: string, pads: readonly number[] | undefined,
): { begin: number[]; end: number[] } {
  const r = inSpatial.length;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < r; i++) {
      const out = Math.ceil(inSpatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inSpatial[i]);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
    return { begin, end };
  }
  if (autoPad === 'VALID' || !pads) return { begin: Array(r).fill(0), end: Array(r).fill(0) };
  return { begin: pads.slice(0, r), end: pads.slice(r, 2 * r) };
}
