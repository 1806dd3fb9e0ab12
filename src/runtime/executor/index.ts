export { Executor, unsupportedOps } from './executor';
export type { RunOptions, LossAndGrads } from './executor';
export { defaultOnnxOps } from './ops';
export { useGradientBackend, registerWasmConvBackpropFilter, registerWasmConvBackpropInput, registerWasmUnsortedSegmentSum, registerWasmDepthwiseBackprop } from './backend';
export { irToTf } from './convert';
export type { BatchStatsHook, OpContext, OpImpl, OpTable, T, TF } from './types';
