/**
 * The corpus tests on PP-OCR's text-direction classifier (tune, finetune): its entry in the
 * corpus listing, text lines rendered by scripts/corpus-cls-lines.py (Debian's python3 with
 * python3-pil, python3-numpy and fonts-dejavu-core; test data only), and onnxruntime's
 * predicted class per line. Moved here from tune.test.ts so both tests read the same ones.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { ROOT } from '../helpers/cli-run';
import { ORACLE_PYTHON } from '../helpers/require-dep';
import { readNpy } from '../reconstruct-e2e/helpers';

export const CLS_NAME = 'ppocr-mobile-v2-cls';

const listing = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'corpus.js'), 'list', '--json'], { encoding: 'utf8' })) as
  { dir: string; models: { name: string; path: string; present: boolean }[] };

/** The classifier's corpus entry; throws naming the command to fetch the corpus when it is absent. */
export function clsModel(): string {
  const entry = listing.models.find((m) => m.name === CLS_NAME);
  if (!entry?.present) throw new Error(`the model corpus is missing in ${listing.dir} (${CLS_NAME}): run node scripts/corpus.js (or set MC_SKIP_CORPUS=1 to skip this suite)`);
  return entry.path;
}

/** Renders `count` lines (every odd one turned by 180°, label 1) into dir/x.npy and dir/y.npy. */
export function renderLines(dir: string, count: number, seed: number): void {
  try {
    execFileSync(ORACLE_PYTHON, [path.join(ROOT, 'scripts', 'corpus-cls-lines.py'), dir, '--count', String(count), '--seed', String(seed)], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`rendering text lines failed (needs Debian's python3-pil, python3-numpy and fonts-dejavu-core): ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
}

/** Predicted class per sample, from onnxruntime (batches of 50). */
export async function predict(model: string, x: { shape: number[]; data: Float32Array | BigInt64Array }): Promise<number[]> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const all = x.data as Float32Array;
  const out: number[] = [];
  for (let i = 0; i < x.shape[0]; i += 50) {
    const n = Math.min(50, x.shape[0] - i);
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', all.slice(i * per, (i + n) * per), [n, ...x.shape.slice(1)]) });
    const p = r[s.outputNames[0]].data as Float32Array;
    const k = p.length / n;
    for (let j = 0; j < n; j++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (p[j * k + c] > p[j * k + best]) best = c;
      out.push(best);
    }
  }
  await s.release();
  return out;
}

export function labels(file: string): number[] {
  return Array.from(readNpy(file).data as BigInt64Array, Number);
}

export const top1 = (pred: number[], y: number[]): number => (100 * pred.filter((p, i) => p === y[i]).length) / y.length;
