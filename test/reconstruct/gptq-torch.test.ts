/**
 * GPTQ against an independent oracle: gptq.py's add_batch and fasterquant run
 * by torch in float64 (gptq_oracle.py, /usr/bin/python3 with Debian's
 * python3-torch), given round 1's grid. The Hessian from HessianAccumulator
 * equals add_batch's to 1e-12; the levels are the same; the weights and loss
 * agree to 1e-9. Skipped, loudly, where /usr/bin/python3 has no torch.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { gptqQuantize, HessianAccumulator } from '../../src/passes/reconstruct';
import { correlatedInputs, weights } from './data';
import { ORACLE_PYTHON, requirePython } from '../helpers/require-dep';

const PY = ORACLE_PYTHON;
const maybe = requirePython('torch', ['torch'], 'python3-torch').test;

const ROWS = 64;
const COLS = 256;
const N = 512;
const BATCH = 96; // uneven: the last batch is short

describe.each([
  { bits: 4 as const, symmetric: true, groupSize: 32, actOrder: false },
  { bits: 4 as const, symmetric: false, groupSize: 32, actOrder: true },
  { bits: 8 as const, symmetric: true, groupSize: 0, actOrder: true },
])('gptq.py in torch float64: int$bits sym=$symmetric group $groupSize act-order $actOrder', (c) => {
  maybe('same H, same levels, weights and loss to 1e-9', () => {
    const w = weights(ROWS, COLS, 31);
    const x = correlatedInputs(N, COLS, 32);
    const acc = new HessianAccumulator(COLS);
    for (let b = 0; b < N; b += BATCH) acc.add(x.subarray(b * COLS, Math.min(N, b + BATCH) * COLS), Math.min(BATCH, N - b));
    const h = acc.hessian();
    const got = gptqQuantize(w, ROWS, COLS, h, { ...c, percdamp: 0.01, blockSize: 128 });
    const groupSize = c.groupSize || COLS;
    const req = {
      rows: ROWS, cols: COLS, w: Array.from(w), x: Array.from(x), batch: BATCH,
      groups: COLS / groupSize, groupsize: groupSize, scales: Array.from(got.weight.scales), zeros: Array.from(got.weight.zeroPoints),
      qmin: c.symmetric ? -(2 ** (c.bits - 1) - 1) : 0, qmax: c.symmetric ? 2 ** (c.bits - 1) - 1 : 2 ** c.bits - 1,
      blocksize: 128, percdamp: 0.01, actorder: c.actOrder,
    };
    const run = spawnSync(PY, [path.join(__dirname, 'gptq_oracle.py')], { input: JSON.stringify(req), encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`oracle failed: ${run.stderr}`);
    const ans = JSON.parse(run.stdout) as { h: number[]; q: number[]; levels: number[]; loss: number };
    let hd = 0;
    let hs = 0;
    for (let i = 0; i < h.length; i++) { hd = Math.max(hd, Math.abs(h[i] - ans.h[i])); hs = Math.max(hs, Math.abs(ans.h[i])); }
    expect(hd / hs).toBeLessThan(1e-12);
    let levelDiffs = 0;
    let qd = 0;
    for (let i = 0; i < ROWS * COLS; i++) {
      if (got.weight.values[i] !== ans.levels[i]) levelDiffs++;
      qd = Math.max(qd, Math.abs(got.dequantized[i] - ans.q[i]));
    }
    expect(levelDiffs).toBe(0);
    expect(qd).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(got.loss - ans.loss)).toBeLessThanOrEqual(1e-9 * ans.loss);
  });
});
