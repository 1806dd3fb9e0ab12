/**
 * Shared by the training tests that run the built binary (finetune-cli, qat, gradual-oneshot):
 * `mc` with a long timeout after checking that dist/ holds this build of the files they exercise
 * (other folders may be mid-edit), a file's sha256, and top-1 by stock onnxruntime on the eval set.
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { openDataset, openLabels } from '../../src/data';
import { BIN, ROOT, type McRun } from '../helpers/cli-run';

export const FIX = path.join(ROOT, 'fixtures');

/** Throws unless each `src/<f>.ts` has a compiled `dist/<f>.js` at least as new. */
export function assertDistFresh(files: readonly string[]): void {
  for (const f of files) {
    const src = path.join(ROOT, 'src', `${f}.ts`);
    const js = path.join(ROOT, 'dist', `${f}.js`);
    if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(src).mtimeMs) throw new Error(`dist/ is older than src/${f}.ts: run \`npm run build\``);
  }
}

/** `mc args...` in `cwd` (NO_COLOR), after assertDistFresh(`fresh`); training runs get 25 minutes. */
export function mcIn(fresh: readonly string[], args: string[], cwd: string): McRun {
  assertDistFresh(fresh);
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8', timeout: 1_500_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const sha = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

let evalSetCache: { x: Float32Array; y: Int32Array } | undefined;

/** The 1,000 eval images (float32 [1000,1,28,28] as read) and their labels. */
export function evalSet(): { x: Float32Array; y: Int32Array } {
  if (!evalSetCache) {
    const b = [...openDataset(path.join(FIX, 'eval-x.npy')).batches(1000)][0];
    evalSetCache = {
      x: Float32Array.from(b.inputs.values().next().value!.data as Float32Array),
      y: [...openLabels(path.join(FIX, 'eval-y.npy')).batches(1000)][0].ids,
    };
  }
  return evalSetCache;
}

/**
 * Top-1 (%) of a 10-class [N,1,28,28] model file by stock onnxruntime, on the 1,000 eval images
 * unless another labelled set is given (fashion-split.js testSet: all 10,000 test images).
 */
export async function top1(file: string, set: { x: Float32Array; y: ArrayLike<number> } = evalSet()): Promise<number> {
  const n = set.y.length;
  const s = await ort.InferenceSession.create(file);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', set.x, [n, 1, 28, 28]) });
  const logits = out[s.outputNames[0]].data as Float32Array;
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
    if (best === set.y[i]) right++;
  }
  await s.release();
  return (100 * right) / n;
}
