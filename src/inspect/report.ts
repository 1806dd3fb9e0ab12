/**
 * The data `mc inspect` reports. Plain JSON-able data (no classes, no bigint):
 * `mc inspect --json` prints it verbatim, and README.md documents every field.
 */
import type { Dim } from '../ir';

export const INSPECT_SCHEMA_VERSION = 1;

export interface InspectReport {
  schemaVersion: typeof INSPECT_SCHEMA_VERSION;
  /** 'onnx' | 'tfjs-graph' | 'tfjs-layers'. */
  format: string;
  producer: { name: string | null; version: string | null };
  /** ONNX ir_version; null for tfjs. */
  irVersion: number | null;
  /** ONNX opset imports ('' is the default ai.onnx domain); empty for tfjs. */
  opsets: { domain: string; version: number }[];
  /** Nodes of the main graph plus all nested subgraphs (tfjs: ops or layers; Const/Placeholder are weights/inputs, not nodes). */
  nodeCount: number;
  /** Node count per op type, most frequent first (ties by name). */
  opTypes: OpTypeCount[];
  /** See `parameters.ts`: elements of learned constant tensors. */
  parameters: number;
  /** All constant tensors (initializers of every graph level, tfjs manifest weights). */
  constants: { tensors: number; elements: number; storedBytes: number; decodedBytes: number };
  /** Constants grouped by (stored dtype, logical dtype), largest stored bytes first. */
  bytesByDtype: DtypeBytes[];
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** The 10 largest constants by stored bytes (ties by name). */
  largestTensors: TensorSummary[];
  /** Weights stored in a quantized encoding. Empty when none. */
  quantization: StoredQuantization[];
  files: { path: string; bytes: number }[];
  totalFileBytes: number;
  /** The recipe mc made the model with (`mc apply`, `mc quantize`, `mc prune`), or null. */
  recipe: RecordedRecipe | null;
}

export interface RecordedRecipe {
  /** `mc.recipe.sha256` as recorded. */
  sha256: string | null;
  /** Whether the recorded hash is the sha256 of the recorded canonical JSON. */
  matches: boolean;
  /** One line per step. */
  steps: string[];
  /** The canonical recipe (docs/recipes.md), as recorded. */
  recipe: unknown;
}

export interface OpTypeCount {
  /** '' for the default ONNX domain; 'tf' for tfjs graph ops; 'keras' for layers. */
  domain: string;
  opType: string;
  count: number;
}

export interface DtypeBytes {
  /** How the data is written in the file (a tfjs uint8-quantized float32 weight: 'uint8'). */
  storedDtype: string;
  /** The dtype the tensor has once decoded (the IR dtype). */
  dtype: string;
  tensors: number;
  elements: number;
  storedBytes: number;
  decodedBytes: number;
}

export interface TensorSignature {
  name: string;
  /** null when the model does not say. */
  dtype: string | null;
  /** Numbers, symbolic names ('batch') or null for unknown dims; null when the rank is unknown. */
  shape: Dim[] | null;
}

export interface TensorSummary {
  name: string;
  dtype: string;
  storedDtype: string;
  shape: number[];
  storedBytes: number;
  decodedBytes: number;
}

export interface StoredQuantization {
  tensor: string;
  /**
   * 'tfjs-manifest': tfjs weight-manifest quantization (uint8/uint16 affine or float16).
   * 'onnx-op': an ONNX weight input of a quantized op (DequantizeLinear, QuantizeLinear, MatMulNBits, QLinear*, *Integer).
   */
  scheme: 'tfjs-manifest' | 'onnx-op';
  /** The consuming op (ONNX), e.g. 'DequantizeLinear' or 'com.microsoft.MatMulNBits'; null for tfjs. */
  op: string | null;
  /** The stored element type: 'uint8', 'uint16', 'float16', 'int8', 'int4', ... */
  storedDtype: string;
  /** Bits per stored weight element (MatMulNBits: its `bits` attribute). */
  bits: number;
  shape: number[];
  elements: number;
  storedBytes: number;
  /** ONNX `axis` (per-axis scales) or null for per-tensor / not applicable. */
  axis: number | null;
  /** ONNX `block_size` (blocked quantization), or null. */
  blockSize: number | null;
}
