export * from './report';
export { inspectModel, constantsOf } from './inspect';
export type { InspectOptions } from './inspect';
export { inspectPath } from './path';
export { countParameters, isLearnedConstant } from './parameters';
export { findStoredQuantization, quantizedWeightInputs } from './quantization';
