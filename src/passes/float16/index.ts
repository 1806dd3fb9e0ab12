export * from './block-list';
export * from './convert-float16';
export * from './value-types';
