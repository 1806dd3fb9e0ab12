/**
 * GPTQ's sweep split over worker threads by rows gives the same bytes as the
 * single-threaded sweep: levels, dequantized weights and the total loss, for 2
 * and 3 threads (uneven row ranges). The worker script exists only compiled, so
 * this test loads dist/ (`npm run build` first; a stale build fails it).
 */
import * as fs from 'fs';
import * as path from 'path';
import { gptqQuantize } from '../../src/passes/reconstruct';
import { correlatedInputs, plainHessian, weights } from './data';

const ROOT = path.resolve(__dirname, '..', '..');

function dist<T>(p: string): T {
  for (const dir of ['linalg', path.join('passes', 'reconstruct'), 'pipeline']) {
    const src = path.join(ROOT, 'src', dir);
    for (const f of fs.readdirSync(src).filter((f) => f.endsWith('.ts') && (dir !== 'pipeline' || f.startsWith('gptq-')))) {
      const js = path.join(ROOT, 'dist', dir, f.replace(/\.ts$/, '.js'));
      if (!fs.existsSync(js)) throw new Error(`${js} is missing: run \`npm run build\` before this test`);
      if (fs.statSync(js).mtimeMs < fs.statSync(path.join(src, f)).mtimeMs) throw new Error(`dist/ is older than src/${dir}/${f}: run \`npm run build\``);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(path.join(ROOT, 'dist', p)) as T;
}

type Threaded = typeof import('../../src/pipeline/gptq-threads').gptqQuantizeThreaded;
const { gptqQuantizeThreaded } = dist<{ gptqQuantizeThreaded: Threaded }>('pipeline/gptq-threads');

test.each([[2], [3]])('%i threads: the same bytes as one', async (threads) => {
  const [rows, cols, n] = [67, 200, 300];
  const w = weights(rows, cols, 61);
  const h = plainHessian(correlatedInputs(n, cols, 62), n, cols);
  const opts = { bits: 4 as const, symmetric: false, groupSize: 32, actOrder: true };
  const one = gptqQuantize(w, rows, cols, h, opts);
  const many = await gptqQuantizeThreaded(w, rows, cols, h, { ...opts, threads });
  expect(many.threads).toBe(threads);
  expect(Buffer.from(many.weight.values.buffer).equals(Buffer.from(one.weight.values.buffer))).toBe(true);
  expect(Buffer.from(many.dequantized.buffer).equals(Buffer.from(one.dequantized.buffer))).toBe(true);
  expect(many.loss).toBe(one.loss);
  expect(Array.from(many.weight.scales)).toEqual(Array.from(one.weight.scales));
  for (let c = 0; c < cols; c++) expect(many.columnLoss[c]).toBeCloseTo(one.columnLoss[c], 12);
});
