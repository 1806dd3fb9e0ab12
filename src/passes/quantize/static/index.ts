/** Static int8 quantization (QDQ) with calibration: placement, emission, and the entry point. */
export { quantizeStatic, staticSettings } from './quantize-static';
export type { ActivationRow, StaticContext, StaticQuantizeResult } from './quantize-static';
export { activationRange, defaultStaticOptions, resolveStaticOptions } from './options';
export type { ActivationType, StaticQuantizeOptions } from './options';
export { isExcludedNode, MIN_INT8_MATMUL_WEIGHTS, planQdq } from './plan';
export { padConvsForInt8, paddingLine, prepareForStaticInt8 } from './prepare';
export type { Prepared } from './prepare';
export { gemmToMatMul } from './gemm-to-matmul';
export type { GemmRewrite } from './gemm-to-matmul';
export { CONV_CHANNEL_MULTIPLE, needsChannelPadding, padConvInputChannels } from './pad-channels';
export type { ChannelPadding } from './pad-channels';
export type { ComputeOp, PlanOptions, QdqPlan, SkippedNode } from './plan';
export { emitQdq } from './emit';
export type { ActivationParams, EmitOptions } from './emit';
export { rewriteSpaceToDepthPooling, S2D_MAX_INPUT_CHANNELS, S2D_MAX_OUTPUT_CHANNELS } from './space-to-depth-pool';
export type { PoolingLimits, PoolingRewrite, SpaceToDepthPooling, SpaceToDepthSkip } from './space-to-depth-pool';
export { storeActivationsAsUint8 } from './activations-uint8';
