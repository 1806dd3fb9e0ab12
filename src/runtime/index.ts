import { detectFormat } from '../formats';
import { OrtRunner } from './ort-session';
import { TfjsRunner } from './tfjs-runner';
import type { ModelRunner } from './runner';

export * from './runner';
export { OrtRunner, OrtSessionOptions } from './ort-session';
export { TfjsRunner } from './tfjs-runner';
export { cpuLine, detectCpu, INT8_FLAGS, parseCpuinfo } from './cpu';
export type { CpuInfo, Int8Path } from './cpu';

export interface OpenRunnerOptions {
  /** onnxruntime intra-op threads (tfjs ignores it). */
  threads?: number;
}

/** Which stock runtime runs the model at `modelPath`: ONNX files go to onnxruntime, tfjs folders / model.json to tfjs. */
export function runtimeFor(modelPath: string): 'onnxruntime' | 'tfjs' {
  return detectFormat(modelPath) === 'tfjs' ? 'tfjs' : 'onnxruntime';
}

/** Opens a model with the stock runtime that fits its format. */
export async function openRunner(modelPath: string, opts: OpenRunnerOptions = {}): Promise<ModelRunner> {
  return runtimeFor(modelPath) === 'tfjs' ? TfjsRunner.create(modelPath) : OrtRunner.create(modelPath, { threads: opts.threads });
}
