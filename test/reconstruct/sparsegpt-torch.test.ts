/**
 * SparseGPT against an independent oracle: sparsegpt.py's fasterprune run by
 * torch in float64 (sparsegpt_oracle.py, /usr/bin/python3 with Debian's
 * python3-torch) on the same H: the same mask, weights and loss to 1e-9.
 * Skipped, loudly, where /usr/bin/python3 has no torch.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { sparsegptPrune } from '../../src/passes/reconstruct';
import { correlatedInputs, plainHessian, weights } from './data';
import { ORACLE_PYTHON, requirePython } from '../helpers/require-dep';

const PY = ORACLE_PYTHON;
const maybe = requirePython('torch', ['torch'], 'python3-torch').test;

const [ROWS, COLS, N] = [64, 256, 512];
const w = weights(ROWS, COLS, 71);
const h = plainHessian(correlatedInputs(N, COLS, 72), N, COLS);

describe.each([
  { label: 'unstructured 60%', sparsity: 0.6, prunen: 0, prunem: 0 },
  { label: '2:4', sparsity: 0, prunen: 2, prunem: 4 },
  { label: '50% + int4 sym per channel', sparsity: 0.5, prunen: 0, prunem: 0, quant: { bits: 4 as const, symmetric: true, groupSize: 0 } },
])('sparsegpt.py in torch float64: $label', (c) => {
  maybe('same mask, weights and loss to 1e-9', () => {
    const got = sparsegptPrune(w, ROWS, COLS, h, { sparsity: c.sparsity, prunen: c.prunen, prunem: c.prunem, quantize: c.quant });
    const q = got.quantized;
    const req = {
      rows: ROWS, cols: COLS, w: Array.from(w), h: Array.from(h), sparsity: c.sparsity, prunen: c.prunen, prunem: c.prunem, blocksize: 128,
      scales: q ? Array.from(q.scales) : null, zeros: q ? Array.from(q.zeroPoints) : null, groups: q ? q.scales.length / ROWS : 0,
      qmin: c.quant ? -7 : 0, qmax: c.quant ? 7 : 0,
    };
    const run = spawnSync(PY, [path.join(__dirname, 'sparsegpt_oracle.py')], { input: JSON.stringify(req), encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`oracle failed: ${run.stderr}`);
    const ans = JSON.parse(run.stdout) as { w: number[]; mask: number[]; loss: number };
    let maskDiffs = 0;
    let wd = 0;
    for (let i = 0; i < ROWS * COLS; i++) {
      if (got.mask[i] !== ans.mask[i]) maskDiffs++;
      wd = Math.max(wd, Math.abs(got.weights[i] - Math.fround(ans.w[i])));
    }
    expect(maskDiffs).toBe(0);
    expect(wd).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(got.loss - ans.loss)).toBeLessThanOrEqual(1e-9 * ans.loss);
  });
});
