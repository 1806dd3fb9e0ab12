import * as fs from 'fs';
import nodeFs = require('fs');
import * as path from 'path';
import { Dataset, openDataset } from '../../src/data';
import { npyHeader, tmpDir, writeDeflatedNpz } from './helpers';

/**
 * Big files must stream: every fs.readSync is at most one batch (npy) or one
 * compressed chunk (deflated npz), and resident memory grows by a few batches
 * at most, far below the file size.
 */
const ROW = 1024; // float32 per sample: 4 KiB rows
const MARK_EVERY = 997;

/** Records the length of every fs.readSync while `fn` runs (lengths only: keeping the buffers would itself hold the file in memory). */
function recordReads<T>(fn: () => T): { result: T; max: number; total: number } {
  const real = nodeFs.readSync;
  const lengths: number[] = [];
  // The module object itself: `import * as` gives a getter-only namespace copy.
  nodeFs.readSync = ((...args: Parameters<typeof real>) => {
    const n = real(...args);
    lengths.push(n);
    return n;
  }) as typeof real;
  try {
    const result = fn();
    return { result, max: Math.max(0, ...lengths), total: lengths.reduce((a, b) => a + b, 0) };
  } finally {
    nodeFs.readSync = real;
  }
}

/** Reads every batch of an opened file, checking each row's marker, and returns the row count and peak RSS growth. */
function drain(ds: Dataset, batchSize: number, limit?: number): { rows: number; rssGrowth: number; wrong: number } {
  const base = process.memoryUsage().rss;
  let peak = base;
  let rows = 0;
  let wrong = 0;
  for (const b of ds.batches(batchSize, limit)) {
    const data = b.inputs.get('x')!.data as Float32Array;
    if (data.length !== b.count * ROW) wrong++;
    for (let k = 0; k < b.count; k++) {
      const r = b.start + k;
      const marked = r % MARK_EVERY === 0;
      if (data[k * ROW] !== (marked ? r : 0) || data[k * ROW + ROW - 1] !== (marked ? -1 : 0)) wrong++;
    }
    rows += b.count;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  return { rows, rssGrowth: peak - base, wrong };
}

describe('streaming', () => {
  const dir = tmpDir();

  test('a 200 MB .npy is read one batch-sized range at a time', () => {
    const n = 51200; // 51200 × 4 KiB = 200 MiB
    const file = path.join(dir, 'x.npy');
    const header = npyHeader('<f4', [n, ROW]);
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, header);
    fs.ftruncateSync(fd, header.length + n * ROW * 4); // sparse: zeros cost no disk
    const mark = new Float32Array(ROW);
    for (let r = 0; r < n; r += MARK_EVERY) {
      mark[0] = r;
      mark[ROW - 1] = -1;
      fs.writeSync(fd, new Uint8Array(mark.buffer), 0, ROW * 4, header.length + r * ROW * 4);
    }
    fs.closeSync(fd);

    const batch = 256; // 1 MiB
    const ds = openDataset(file);
    const reads = recordReads(() => drain(ds, batch));
    expect(reads.result).toMatchObject({ rows: n, wrong: 0 });
    expect(reads.max).toBe(batch * ROW * 4);
    expect(reads.total).toBe(n * ROW * 4); // each data byte read once, the header not again
    expect(reads.result.rssGrowth).toBeLessThan(3 * batch * ROW * 4 + 64 * 2 ** 20);
  });

  test('a 50 MB deflated .npz entry inflates in bounded memory, reading only what a limit needs', () => {
    const n = 12800; // 12800 × 4 KiB = 50 MiB
    const file = path.join(dir, 'x.npz');
    writeDeflatedNpz(file, 'x', '<f4', [n, ROW], ROW * 4, (r, buf) => {
      if (r % MARK_EVERY === 0) {
        buf.writeFloatLE(r, 0);
        buf.writeFloatLE(-1, (ROW - 1) * 4);
      }
    });
    const compressed = fs.statSync(file).size;
    expect(compressed).toBeLessThan(2 * 2 ** 20);

    const batch = 128; // 512 KiB
    const ds = openDataset(file);
    const all = recordReads(() => drain(ds, batch));
    expect(all.result).toMatchObject({ rows: n, wrong: 0 });
    expect(all.max).toBeLessThanOrEqual(65536);
    expect(all.total).toBeGreaterThan(compressed - 1024); // the whole stream, once
    expect(all.total).toBeLessThan(compressed);
    expect(all.result.rssGrowth).toBeLessThan(3 * batch * ROW * 4 + 64 * 2 ** 20);

    const some = recordReads(() => drain(ds, batch, 1000));
    expect(some.result).toMatchObject({ rows: 1000, wrong: 0 });
    // 1000 of 12800 rows need well under half of the compressed stream.
    expect(some.total).toBeLessThan(compressed / 2);
  });
});
