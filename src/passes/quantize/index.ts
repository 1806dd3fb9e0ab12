/** Weight quantization: options, the pass, and the numeric building blocks (for tests and other passes). */
export * from './options';
export * from './params';
export * from './weights';
export * from './int4';
export * from './report';
export * from './tfjs-affine';
export { quantizePass, quantizationSettings } from './quantize-pass';
export type { WeightHooks } from './quantize-pass';
export { raiseOpset } from './opset';
