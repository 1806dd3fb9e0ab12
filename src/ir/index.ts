export * from './dtype';
export * from './float16';
export * from './tensor';
export * from './value';
export * from './attribute';
export * from './node';
export * from './graph';
export * from './model';
