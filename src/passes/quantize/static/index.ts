/**
 * Static int8 quantization (QDQ): placement, emission from given ranges, and the optional rewrites, as
 * pure passes. The calibration run and the per-model decisions are src/pipeline/static.ts.
 */
export { emitStaticQdq, staticQdqPass, staticSettings, tensorsToCalibrate } from './quantize-static';
export type { ActivationRange, ActivationRow, StaticContext, StaticDecisions, StaticQdqInput, StaticQdqReport, StaticQuantizeResult } from './quantize-static';
export { spaceToDepthPoolingPass } from './space-to-depth-pass';
export type { SpaceToDepthReport } from './space-to-depth-pass';
export { activationRange, defaultStaticOptions, resolveStaticOptions, STATIC_TARGETS } from './options';
export type { ActivationType, SmallLayers, StaticQuantizeOptions, StaticTarget } from './options';
export { formsFor } from './targets';
export type { TargetForms } from './targets';
export { isExcludedNode, planQdq } from './plan';
export { foldBatchNormForInt8, gemmToMatMulForInt8Pass, padConvsForInt8, paddingLines, prepareForStaticInt8, rewriteGemmsForInt8 } from './prepare';
export type { Prepared } from './prepare';
export { gemmToMatMul } from './gemm-to-matmul';
export type { GemmRewrite } from './gemm-to-matmul';
export { CONV_CHANNEL_MULTIPLE, needsChannelPadding, padConvInputChannels, readsModelInput } from './pad-channels';
export type { ChannelPadding } from './pad-channels';
export type { ComputeOp, PlanOptions, QdqPlan, SkippedNode } from './plan';
export { emitQdq } from './emit';
export type { ActivationParams, EmitOptions } from './emit';
export { findPoolingMatches, rewriteSpaceToDepthPooling, S2D_MAX_INPUT_CHANNELS, S2D_MAX_OUTPUT_CHANNELS } from './space-to-depth-pool';
export type { PoolingLimits, PoolingRewrite, PoolingRewriteOptions, SpaceToDepthPooling, SpaceToDepthSkip } from './space-to-depth-pool';
export { storeActivationsAsUint8 } from './activations-uint8';
