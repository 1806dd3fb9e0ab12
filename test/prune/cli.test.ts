/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * `mc prune` through the built binary: bad input exits 2 with one line, and
 * --eval-data ends with eval's report and exit code.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runMc, tempDir } from '../helpers/cli-run';

const FIX = path.join(__dirname, '..', '..', 'fixtures');
const mlp = path.join(FIX, 'mlp.onnx');

describe('mc prune: bad input exits 2 with one clear line, nothing written', () => {
  const dir = tempDir('mc-prune-cli-');
  test.each([
    [['--sparsity', '1'], /--sparsity must be in \[0, 1\)/],
    [['--sparsity', '-0.1'], /--sparsity must be in \[0, 1\)/],
    [['--sparsity', '0.5', '--criterion', 'saliency'], /saliency needs --data/],
    [['--sparsity', '0.5', '--pattern', 'n:m', '--n-m', '2:5'], /not divisible by 5|divisible/],
  ])('%j', (flags, message) => {
    const out = path.join(dir, 'out.onnx');
    const r = runMc(['prune', mlp, '-o', out, ...flags], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('mc prune --eval-data: the eval gate', () => {
  const dir = tempDir('mc-prune-gate-');
  const data = ['--eval-data', path.join(FIX, 'eval-x.npy'), '--eval-labels', path.join(FIX, 'eval-y.npy')];

  test('a holding budget exits 0; the report has both accuracies', () => {
    const r = runMc(['prune', mlp, '--sparsity', '0.3', '-o', path.join(dir, 'a.onnx'), ...data, '--max-accuracy-drop', '5'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/top-1 accuracy\s+\d+\.\d+%\s+\d+\.\d+%/);
  });

  test('a broken budget exits 1 and names it', () => {
    const r = runMc(['prune', mlp, '--sparsity', '0.9', '-o', path.join(dir, 'b.onnx'), ...data, '--max-accuracy-drop', '0.1', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/budget broken: --max-accuracy-drop measured [\d.]+, limit ≤ 0.1/);
    const j = JSON.parse(r.stdout);
    expect(j.report.globalSparsity).toBeCloseTo(0.9, 3);
    expect(j.eval.budgets[0]).toEqual(expect.objectContaining({ name: 'max-accuracy-drop', passed: false }));
  });
});
