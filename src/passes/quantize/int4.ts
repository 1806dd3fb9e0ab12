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
  const sym = qw.dtype === 'int4';
  // Scales and zero points of (col, blk) in the source's blocked scale tensor ([nb, N] or [N, nb]), in MatMulNBits order.
  const scales = new Float32Array(n * nb);
  const zps = new Uint8Array(n * nb);
  for (let col = 0; col < n; col++) {
    for (let blk = 0; blk < nb; blk++) {
      const si = kAxis === 0 ? blk * n + col : col * nb + blk;
      scales[col * nb + blk] = qw.scales[si];
      zps[col * nb + blk] = sym ? 8 : qw.zeroPoints[si] & 0x0f;
    }
  }
  let zeroPoints: Uint8Array | undefined;
  if (!sym) {
    const zpRow = (nb + 1) >> 1;
    zeroPoints = new Uint8Array(n * zpRow);
    for (let col = 0; col < n; col++) {
      for (let blk = 0; blk < nb; blk++) zeroPoints[col * zpRow + (blk >> 1)] |= zps[col * nb + blk] << ((blk & 1) * 4);
    }
  }
  // Stored bytes of q (two's complement when signed); (byte + offset) & 15 is the nibble either way, as 16 divides 256.
  const v = new Uint8Array(qw.values.buffer, qw.values.byteOffset, qw.values.length);
  const b = kAxis === 0 ? packKN(v, k, n, bs, sym ? 8 : 0, zps) : packNK(v, k, n, bs, sym ? 8 : 0, zps);
  return { k, n, blockSize: bs, b, scales, zeroPoints };
}

/** Nibble of element kk of column col, or the block's zero point past K. */
function nibble(v: Uint8Array, kk: number, col: number, k: number, n: number, kAxis: 0 | 1, nb: number, bs: number, offset: number, zps: Uint8Array): number {
  if (kk >= k) return zps[col * nb + Math.floor(kk / bs)];
  return (v[kAxis === 0 ? kk * n + col : col * k + kk] + offset) & 0x0f;
}

/**
 * Source [K, N] (MatMul B): one pair of K rows at a time, so each output byte
 * is written once, over tiles of TILE columns so that the output bytes of a
 * tile (one cache line per column) stay in cache across the block's row pairs.
 */
const TILE = 64;
function packKN(v: Uint8Array, k: number, n: number, bs: number, offset: number, zps: Uint8Array): Uint8Array {
  const nb = Math.ceil(k / bs);
  const half = bs >> 1;
  const colStride = nb * half; // bytes between columns in the output
  const b = new Uint8Array(n * colStride);
  for (let blk = 0; blk < nb; blk++) {
    for (let c0 = 0; c0 < n; c0 += TILE) {
      const c1 = Math.min(n, c0 + TILE);
      for (let t = 0; t < bs; t += 2) {
        const k0 = blk * bs + t;
        let o = c0 * colStride + blk * half + (t >> 1);
        if (k0 + 1 < k) {
          const r0 = k0 * n;
          const r1 = r0 + n;
          for (let col = c0; col < c1; col++, o += colStride) {
            b[o] = ((v[r0 + col] + offset) & 0x0f) | (((v[r1 + col] + offset) & 0x0f) << 4);
          }
        } else {
          for (let col = c0; col < c1; col++, o += colStride) {
            b[o] = nibble(v, k0, col, k, n, 0, nb, bs, offset, zps) | (nibble(v, k0 + 1, col, k, n, 0, nb, bs, offset, zps) << 4);
          }
        }
      }
    }
  }
  return b;
}

/** Source [N, K] (Gemm B with transB = 1): already MatMulNBits' order, packed in place order. */
function packNK(v: Uint8Array, k: number, n: number, bs: number, offset: number, zps: Uint8Array): Uint8Array {
  const nb = Math.ceil(k / bs);
  const half = bs >> 1;
  const b = new Uint8Array(n * nb * half);
  const full = k & ~1; // pairs entirely inside K
  for (let col = 0, o = 0; col < n; col++) {
    const r = col * k;
    let kk = 0;
    for (; kk < full; kk += 2, o++) b[o] = ((v[r + kk] + offset) & 0x0f) | (((v[r + kk + 1] + offset) & 0x0f) << 4);
    for (; kk < nb * bs; kk += 2, o++) b[o] = nibble(v, kk, col, k, n, 1, nb, bs, offset, zps) | (nibble(v, kk + 1, col, k, n, 1, nb, bs, offset, zps) << 4);
  }
  return b;
}
