/**
 * Shared by the corpus fine-tuning tests (finetune, finetune-graph): mc with a long timeout,
 * a check that a run succeeded, and where a saved model's float weights hold exact zeros.
 */
import { loadModel } from '../../src/formats';
import { runMc, type McRun } from '../helpers/cli-run';

export const mc = (args: string[]): McRun => runMc(args, { timeoutMs: 1_500_000 });

export function ok(run: McRun, what: string): McRun {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}:\n${run.stderr.trim().split('\n').slice(-5).join('\n')}`);
  return run;
}

/** Positions of exact zeros in each float initializer that has any (an .onnx file or a tfjs model folder). */
export function zeros(file: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const v of loadModel(file).graph.initializers) {
    if (v.const?.dtype !== 'float32') continue;
    const d = v.const.toFloat32();
    const z: number[] = [];
    for (let i = 0; i < d.length; i++) if (d[i] === 0) z.push(i);
    if (z.length) out.set(v.name, z);
  }
  return out;
}
