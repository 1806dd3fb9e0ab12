/**
 * What one layer's reconstruction holds in memory, so a caller can refuse a
 * model whose float64 H does not fit before collecting anything (issue 12, "a
 * model too large for float64 H in memory: say which layer and how much").
 * Counts the big arrays only (each a few KiB of scratch aside):
 *  - collection: the accumulator's H, cols² float64;
 *  - GPTQ / SparseGPT peak: H handed in, the n×n working matrix that becomes R,
 *    and for the sweep W in float64, levels, the float32 result and round 1's
 *    quantization of W (levels and float32 weights).
 */
import { UnsupportedError } from '../../errors';

/** Bytes of a HessianAccumulator for `cols` inputs. */
export function hessianBytes(cols: number): number {
  return 8 * cols * cols;
}

/** Peak bytes of gptqQuantize / sparsegptPrune on a [rows, cols] weight (H included). */
export function reconstructionBytes(rows: number, cols: number): number {
  const n2 = cols * cols;
  const rc = rows * cols;
  return 8 * n2 * 2 + 8 * rc + rc + 4 * rc + (rc + 4 * rc);
}

/** Throws UnsupportedError naming the layer and the bytes when its reconstruction needs more than `limitBytes`. */
export function checkReconstructionMemory(name: string, rows: number, cols: number, limitBytes: number): void {
  const need = reconstructionBytes(rows, cols);
  if (need > limitBytes) {
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
    throw new UnsupportedError(
      `layer '${name}' needs ${mib(need)} for GPTQ/SparseGPT (float64 H of ${cols}×${cols} inputs: ${mib(hessianBytes(cols))}, twice, plus W [${rows}, ${cols}]), over the ${mib(limitBytes)} allowed`,
    );
  }
}
