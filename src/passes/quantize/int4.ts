/**
 * 4-bit packing. ONNX INT4/UINT4 tensors store two elements per byte, the
 * first (even index) in the low nibble (onnx.ai IR spec, "4-bit integer
 * types"). ORT's com.microsoft MatMulNBits wants B transposed to [N, K] and cut
 * into blocks: B is uint8 [N, ⌈K/bs⌉, bs/2], element (n, k) at byte
 * (n·nBlocks + ⌊k/bs⌋)·bs/2 + (k mod bs)/2, low nibble first; scales are
 * [N·nBlocks] (row n, block b at n·nBlocks + b); zero points, when present,
 * are uint8 [N, ⌈nBlocks/2⌉], packed the same way per row; absent means 8
 * (ORT docs/ContribOperators.md, com.microsoft.MatMulNBits).
 */
import { QuantizedWeight } from './weights';

/** Packs 4-bit values two per byte, low nibble first (ONNX INT4/UINT4). */
export function packNibbles(values: Int8Array | Uint8Array): Uint8Array {
  const n = values.length;
  const out = new Uint8Array((n + 1) >> 1);
  let i = 0;
  for (let b = 0; i + 1 < n; b++, i += 2) out[b] = (values[i] & 0x0f) | ((values[i + 1] & 0x0f) << 4);
  if (i < n) out[i >> 1] = values[i] & 0x0f;
  return out;
}

export interface MatMulNBitsWeight {
  k: number;
  n: number;
  blockSize: number;
  /** uint8 [N, nBlocks, blockSize/2] */
  b: Uint8Array;
  /** float32 [N·nBlocks] */
  scales: Float32Array;
  /** uint8 [N, ⌈nBlocks/2⌉], or undefined for symmetric weights (implicit zero point 8). */
  zeroPoints?: Uint8Array;
}

/**
 * Re-lays a block-wise 4-bit QuantizedWeight of a 2-D matrix for MatMulNBits.
 * `kAxis` is the reduction axis of the source ([K, N] → 0, [N, K] → 1); the
 * quantization must be block-wise along that axis. Symmetric int4 values
 * q ∈ [-7, 7] become unsigned q + 8 so that the implicit zero point 8 holds;
 * padding past K (when K is not a multiple of the block) is the zero point.
 */
export function toMatMulNBits(qw: QuantizedWeight, shape: readonly number[], kAxis: 0 | 1): MatMulNBitsWeight {
  if (qw.layout.granularity !== 'block' || qw.layout.axis !== kAxis) throw new Error('MatMulNBits needs block-wise quantization along K');
  const bs = qw.layout.blockSize;
  const k = shape[kAxis];
  const n = shape[1 - kAxis];
  const nb = Math.ceil(k / bs);
  const half = bs >> 1;
  const b = new Uint8Array(n * nb * half);
  const scales = new Float32Array(n * nb);
  const sym = qw.dtype === 'int4';
  const zpRow = (nb + 1) >> 1;
  const zeroPoints = sym ? undefined : new Uint8Array(n * zpRow);
  const offset = sym ? 8 : 0;
  // Source strides of (k, n) and of the blocked scale tensor.
  const [ks, ns] = kAxis === 0 ? [n, 1] : [1, k];
  const [sbs, sns] = kAxis === 0 ? [n, 1] : [1, nb];
  for (let col = 0; col < n; col++) {
    for (let blk = 0; blk < nb; blk++) {
      const si = blk * sbs + col * sns;
      scales[col * nb + blk] = qw.scales[si];
      const zp = sym ? 8 : qw.zeroPoints[si];
      if (zeroPoints) zeroPoints[col * zpRow + (blk >> 1)] |= (zp & 0x0f) << ((blk & 1) * 4);
      const rowBase = (col * nb + blk) * half;
      for (let t = 0; t < bs; t++) {
        const kk = blk * bs + t;
        const u = kk < k ? qw.values[kk * ks + col * ns] + offset : zp;
        b[rowBase + (t >> 1)] |= (u & 0x0f) << ((t & 1) * 4);
      }
    }
  }
  return { k, n, blockSize: bs, b, scales, zeroPoints };
}
