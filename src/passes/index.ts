export * from './pass';
export * from './quantize';
