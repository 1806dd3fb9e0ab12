import type { QuantizeCoverage } from './select';
import type { BackupChoice } from './backup';
/** The quantization report: plain data, printed by the CLI (table or JSON). */

export interface QuantizedTensorRow {
  /** Weight (initializer) name. */
  name: string;
  shape: number[];
  /** Op types that read it through the quantized form. */
  ops: string[];
  granularity: 'tensor' | 'channel' | 'block';
  /** Block length along the reduction axis (granularity 'block'). */
  blockSize?: number;
  /** Effective bits per weight: 8, 4, or 16 for tfjs uint16/float16 fallbacks. */
  bits: number;
  /** Output form, e.g. 'DequantizeLinear int8 axis=0', 'MatMulNBits int4 block=32', 'tfjs uint8'. */
  form: string;
  /** Weight SQNR in dB of the dequantized weight against the float one; null when exact. */
  sqnrDb: number | null;
  /** float32 bytes of the original tensor. */
  bytesBefore: number;
  /** Bytes of what replaces it (quantized data, scales, zero points). */
  bytesAfter: number;
  /** True when another consumer still reads the float original, so it stays in the file. */
  floatKept: boolean;
}

/**
 * Why a weight stays float. The first four follow from the user's settings (or a
 * documented default); the others are weights mc could not take, and make a run partial.
 */
export type SkipKind =
  | 'excluded' | 'op-types' | 'mode' | 'too-small'
  | 'dtype' | 'role' | 'subgraph'
  /** Sent back to float by the pipeline's output check (src/pipeline/verify-outputs.ts) to meet the output bound. */
  | 'output-check';

export interface SkippedTensor {
  name: string;
  kind: SkipKind;
  reason: string;
  /** Stored bytes of the tensor left in float. */
  bytes: number;
}

export interface QuantizeReport {
  format: 'onnx' | 'tfjs-graph' | 'tfjs-layers';
  settings: Record<string, unknown>;
  tensors: QuantizedTensorRow[];
  skipped: SkippedTensor[];
  /** Sum over rows. */
  weightBytesBefore: number;
  weightBytesAfter: number;
  /** Default-domain opset before and after (ONNX). */
  opsetBefore?: number;
  opsetAfter?: number;
  warnings: string[];
  /** Bytes quantized against bytes mc could not take (see select.ts); the pipeline fails a partial run. */
  coverage: QuantizeCoverage;
  /** Weights the pipeline kept at backup precision (embedding, last layer: backup.ts), each with why. */
  backup?: BackupChoice[];
}

export function sqnrForJson(db: number): number | null {
  return Number.isFinite(db) ? Math.round(db * 100) / 100 : null;
}
