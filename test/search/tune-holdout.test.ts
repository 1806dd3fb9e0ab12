/**
 * `mc tune --holdout-data`: the answer measured on data the search never saw
 * (fixtures/calib-x.npy and calib-y.npy, 256 images disjoint from the 1,000
 * eval images the search uses). The held-out figure is checked against `mc eval`
 * of the written model on the same files (onnxruntime), and the exit code against
 * that figure: a constraint missed on held-out data exits 1.
 */
import * as path from 'path';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';

const FIX = path.join(ROOT, 'fixtures');
const CNN = path.join(FIX, 'cnn.onnx');
const DATA = ['--data', path.join(FIX, 'eval-x.npy'), '--labels', path.join(FIX, 'eval-y.npy')];
const HOLD = ['--holdout-data', path.join(FIX, 'calib-x.npy'), '--holdout-labels', path.join(FIX, 'calib-y.npy')];
const dir = tempDir('tune-holdout');

/** Top-1 drop of `file` against the float model on the held-out files, by mc eval. */
function heldOutDrop(file: string): number {
  const r = runMc(['eval', file, '--baseline', CNN, '--data', HOLD[1], '--labels', HOLD[3], '--runs', '0', '--json', '-']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).delta.accuracyTop1Points as number;
}

test.each([['0.5'], ['0']])('--max-accuracy-drop %s: the held-out figure is mc eval\'s, and the exit code follows it', (budget) => {
  const out = path.join(dir, `best-${budget}.onnx`);
  const r = runMc(['tune', CNN, ...DATA, ...HOLD, '--max-accuracy-drop', budget, '--options', 'int4,int8', '-o', out, '--json'], { timeoutMs: 300_000 });
  const rep = JSON.parse(r.stdout) as { met: boolean; holdout: { value: number; passed: boolean } };
  expect(rep.holdout.value).toBeCloseTo(heldOutDrop(out), 9);
  expect(rep.holdout.passed).toBe(rep.holdout.value <= Number(budget));
  if (!rep.met) expect(r.code).toBe(1);
  else if (!rep.holdout.passed) {
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/constraint missed on held-out data/);
  } else expect(r.code).toBe(0);
});

test('--holdout-labels without --holdout-data is refused', () => {
  const r = runMc(['tune', CNN, ...DATA, '--max-accuracy-drop', '1', '--holdout-labels', HOLD[3]]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--holdout-labels needs --holdout-data/);
});
