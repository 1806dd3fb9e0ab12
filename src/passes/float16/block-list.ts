import type { Node } from '../../ir';

/**
 * Which ops stay in float32 when a model is converted to float16, and why.
 * Each entry is data: an op type and its reason, so the report can say why a
 * node was kept.
 */

export interface BlockedOp {
  opType: string;
  reason: string;
}

/**
 * onnxconverter-common's DEFAULT_OP_BLOCK_LIST (onnxconverter_common/float16.py):
 * ops whose float16 results lose too much (index arithmetic in Range and
 * CumSum, TopK/NonMaxSuppression ties, Resize/RoiAlign coordinates computed in
 * the input type), random ops and the ai.onnx.ml ops that have no float16
 * kernels. Min and Max are on that list too: float16 Min/Max kernels were
 * missing in onnxruntime when the list was written.
 */
const NUMERICS: readonly string[] = [
  'ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer',
  'LabelEncoder', 'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'RandomUniformLike', 'SVMClassifier',
  'SVMRegressor', 'Scaler', 'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap', 'NonMaxSuppression', 'TopK',
  'RoiAlign', 'Resize', 'Range', 'CumSum', 'Min', 'Max', 'Upsample',
];

/**
 * Ops mc keeps in float32 for its own reasons: quantization ops keep float32
 * scales (a float16 scale needs opset 19, and onnxruntime's QDQ and dynamic
 * int8 fusions match the float32 patterns), and random ops whose output type
 * comes from a `dtype` attribute.
 */
const MC: readonly BlockedOp[] = [
  ...['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'MatMulInteger', 'ConvInteger', 'QLinearConv', 'QLinearMatMul']
    .map((opType) => ({ opType, reason: 'integer op: its float scales stay float32' })),
  ...['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'Bernoulli', 'Multinomial']
    .map((opType) => ({ opType, reason: 'random op (output type set by its dtype attribute)' })),
];

/**
 * Ops blocked because onnxruntime's CPU provider lacks a float16 kernel: none.
 * Measured with onnxruntime-node 1.30 on x86-64 (AVX2) by converting the
 * fixtures and the corpus models (PP-OCR det/rec/cls, Silero VAD with LSTM in
 * If bodies, openWakeWord, ISNet) with an empty list and loading them
 * (scripts/float16/measure.js): all loaded and ran. Where the CPU provider has
 * no float16 kernel its InsertCastTransformer wraps the node in Casts to
 * float32 when the session loads (InsertedPrecisionFreeCast nodes in the
 * optimized graph), so a model never fails to load for that reason. On x86-64
 * that is nearly every compute op (Conv, Gemm, MatMul, elementwise, pooling,
 * LSTM): onnxruntime's CPU computes such a model in float32 between
 * float16-rounded tensors. Kept as a list so that a runtime that does fail can
 * be named here.
 */
export const ORT_CPU_NO_FLOAT16: readonly string[] = [];

export const DEFAULT_BLOCKED_OPS: readonly BlockedOp[] = [
  ...NUMERICS.map((opType) => ({ opType, reason: 'numerically unsafe in float16 (onnxconverter-common default block list)' })),
  ...MC,
  ...ORT_CPU_NO_FLOAT16.map((opType) => ({ opType, reason: 'onnxruntime-node 1.30 CPU has no float16 kernel' })),
];

/** Default block list plus `extra` op types (the user's --fp16-block-ops), op type → reason. */
export function blockList(extra: readonly string[] = [], defaults: readonly BlockedOp[] = DEFAULT_BLOCKED_OPS): Map<string, string> {
  const m = new Map<string, string>();
  for (const b of defaults) if (!m.has(b.opType)) m.set(b.opType, b.reason);
  for (const op of extra) m.set(op, 'in --fp16-block-ops');
  return m;
}

/**
 * Float inputs that must stay float32 whatever the node's precision: their
 * type constraint has no float16. Resize's `scales` is tensor(float) (input 1
 * at opset 10, input 2 from 11 on, after `roi`); Upsample's `scales` too.
 */
export function float32Inputs(node: Pick<Node, 'opType' | 'domain' | 'inputs'>): number[] {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return [];
  if (node.opType === 'Resize') return node.inputs.length === 2 ? [1] : [2];
  if (node.opType === 'Upsample') return [1];
  return [];
}

/** Control flow is never blocked: its bodies are converted node by node instead. */
export const CONTROL_FLOW: ReadonlySet<string> = new Set(['If', 'Loop', 'Scan']);
