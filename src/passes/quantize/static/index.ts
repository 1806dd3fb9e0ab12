/** Static int8 quantization (QDQ) with calibration: placement, emission, and the entry point. */
export { quantizeStatic, staticSettings } from './quantize-static';
export type { ActivationRow, StaticContext, StaticQuantizeResult } from './quantize-static';
export { activationRange, defaultStaticOptions, resolveStaticOptions } from './options';
export type { ActivationType, StaticQuantizeOptions } from './options';
export { planQdq } from './plan';
export type { ComputeOp, PlanOptions, QdqPlan, SkippedNode } from './plan';
export { emitQdq } from './emit';
export type { ActivationParams, EmitOptions } from './emit';
