/**
 * mc as a library. The CLI is a thin layer over these functions: typed
 * options in, typed results (plain data) out, typed errors (src/errors.ts) thrown.
 *
 *   import { loadModel, inspectModel, modelFiles } from 'mc';
 *   const report = inspectModel(loadModel('model.onnx'), modelFiles('model.onnx'));
 */
export * from './ir';
export * from './errors';
export { VERSION } from './version';
export type { ConvertOptions, ConvertResult, FormatName, SaveOptions } from './formats';
export {
  convertModel, detectFormat, formatOf, loadModel, modelFiles, modelRoot, outputFormatOf, saveModel,
} from './formats';
export * from './inspect';

