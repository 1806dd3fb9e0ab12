export * from './constants';
export * from './lift-constants';
