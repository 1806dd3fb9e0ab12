export * from './pass';
export * from './quantize';
export * from './fold-batchnorm';
