import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InputError, UsageError } from '../../src/errors';
import { halfToFloat } from '../../src/ir/float16';
import { Batch, BatchTensor, openDataset } from '../../src/data';
import { Expected, FILES, PYTHON, npyHeader, readExpected, tmpDir } from './helpers';
import { requirePython } from '../helpers/require-dep';

/** Decoded values as numbers/strings comparable with numpy's tolist(). */
function values(t: BatchTensor): (number | string)[] {
  const out: (number | string)[] = [];
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    if (typeof v === 'bigint') out.push(v.toString());
    else out.push(t.dtype === 'float16' ? halfToFloat(v) : v);
  }
  return out;
}

function concat(batches: Batch[], name: string): (number | string)[] {
  return batches.flatMap((b) => values(b.inputs.get(name)!));
}

const NPY_NAMES = ['f32_v1', 'f32_v2', 'f32_v3', 'f16_v1', 'f64_v1', 'i64_v2', 'i32_v1', 'u8_v1', 'bool_v1'];

function checkFolder(dir: string): void {
  const expected = readExpected(dir);
  for (const name of NPY_NAMES) {
    const e: Expected = expected[name];
    const ds = openDataset(path.join(dir, `${name}.npy`));
    expect(ds.count).toBe(e.shape[0]);
    expect(ds.describe()).toEqual([{ name, dtype: e.dtype, shape: e.shape.slice(1), file: path.join(dir, `${name}.npy`) }]);
    // Batch size 2 rarely divides the count: exercises the short last batch.
    const batches = [...ds.batches(2)];
    expect(batches.map((b) => [b.start, b.count])).toEqual(
      Array.from({ length: Math.ceil(e.shape[0] / 2) }, (_, k) => [2 * k, Math.min(2, e.shape[0] - 2 * k)]));
    expect(concat(batches, name)).toEqual(e.values);
    expect(batches[0].inputs.get(name)!.shape).toEqual([Math.min(2, e.shape[0]), ...e.shape.slice(1)]);
  }
  for (const archive of ['stored.npz', 'deflated.npz']) {
    const ds = openDataset(path.join(dir, archive));
    expect(ds.kind).toBe('npz');
    expect(ds.count).toBe(7);
    expect(ds.describe().map((d) => [d.name, d.dtype, d.shape])).toEqual([['x', 'float32', [2, 3]], ['y', 'int64', [2]]]);
    const batches = [...ds.batches(3)];
    expect(batches.map((b) => b.count)).toEqual([3, 3, 1]);
    expect(concat(batches, 'x')).toEqual(expected.npz.x.values);
    expect(concat(batches, 'y')).toEqual(expected.npz.y.values);
  }
}

describe('.npy and .npz written by numpy', () => {
  test('committed fixtures decode to numpy\'s values, every dtype and version', () => {
    checkFolder(FILES);
  });

  requirePython('numpy', ['numpy'], 'python3-numpy').test('freshly written by /usr/bin/python3 numpy decode identically', () => {
    const dir = tmpDir();
    execFileSync(PYTHON, [path.join(FILES, 'make.py'), dir]);
    checkFolder(dir);
  });
});

describe('batching', () => {
  const f = path.join(FILES, 'f32_v2.npy'); // 5 samples of 3
  test('limit smaller than count, with a batch size that does not divide it', () => {
    const b = [...openDataset(f).batches(2, 3)];
    expect(b.map((x) => [x.start, x.count])).toEqual([[0, 2], [2, 1]]);
    expect(Array.from(b[1].inputs.get('f32_v2')!.data as Float32Array)).toEqual([2 - 0.6, 2 - 0.7, 2 - 0.8].map(Math.fround));
  });
  test('limit above count reads everything; passes restart', () => {
    const ds = openDataset(f);
    expect([...ds.batches(10, 99)].map((x) => x.count)).toEqual([5]);
    expect([...ds.batches(4)].map((x) => x.count)).toEqual([4, 1]);
  });
  test('bad batch size or limit is a UsageError', () => {
    const ds = openDataset(f);
    expect(() => [...ds.batches(0)]).toThrow(UsageError);
    expect(() => [...ds.batches(2.5)]).toThrow(UsageError);
    expect(() => [...ds.batches(2, 0)]).toThrow('sample limit must be a positive integer, got 0');
  });
  test('batch data is a typed view over one fresh buffer per batch', () => {
    const [b0, b1] = [...openDataset(path.join(FILES, 'i64_v2.npy')).batches(3)];
    const t = b0.inputs.get('i64_v2')!;
    expect(t.data).toBeInstanceOf(BigInt64Array);
    expect(t.data.buffer.byteLength).toBe(24);
    expect(b1.inputs.get('i64_v2')!.data.buffer).not.toBe(t.data.buffer);
  });
});

describe('model inputs', () => {
  const spec = (name: string, dtype: 'float32' | 'int64' = 'float32', shape: (number | string | null)[] = ['N', 3]) => ({ name, dtype, shape });
  test('a single .npy takes the model\'s single input name', () => {
    const ds = openDataset(path.join(FILES, 'f32_v2.npy'), { inputs: [spec('pixels')] });
    expect([...ds.batches(5)][0].inputs.has('pixels')).toBe(true);
  });
  test('a single .npy for a two-input model is an error naming both', () => {
    expect(() => openDataset(path.join(FILES, 'f32_v2.npy'), { inputs: [spec('a'), spec('b')] }))
      .toThrow(`${path.join(FILES, 'f32_v2.npy')}: the model has 2 inputs (a, b) but an .npy holds one array; use an .npz with one array per input name`);
  });
  test('.npz arrays map to inputs by name; extra arrays are left out', () => {
    const ds = openDataset(path.join(FILES, 'deflated.npz'), { inputs: [spec('x', 'float32', ['N', 2, 3])] });
    expect(ds.describe().map((d) => d.name)).toEqual(['x']);
    expect(ds.describe()[0].file).toBe(`${path.join(FILES, 'deflated.npz')}:x.npy`);
    expect([...[...ds.batches(7)][0].inputs.keys()]).toEqual(['x']);
  });
  test('.npz without the input\'s array says which arrays it has', () => {
    expect(() => openDataset(path.join(FILES, 'stored.npz'), { inputs: [spec('x'), spec('mask')] }))
      .toThrow("no array 'mask.npy' for model input 'mask' (the archive holds: x, y)");
  });
  test('float16 data widens to float32 when the model wants float32, exactly', () => {
    const e = readExpected(FILES).f16_v1;
    const ds = openDataset(path.join(FILES, 'f16_v1.npy'), { inputs: [spec('h')] });
    expect(ds.describe()[0]).toMatchObject({ dtype: 'float32', storedDType: 'float16' });
    const t = [...ds.batches(4)][0].inputs.get('h')!;
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data as Float32Array)).toEqual(e.values);
  });
});

describe('bad files', () => {
  const dir = tmpDir();
  const write = (name: string, bytes: Uint8Array): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  const body = (n: number): Buffer => Buffer.alloc(n);
  const header = (descr: string, shape: number[], fortran = false): Uint8Array => {
    const h = Buffer.from(npyHeader(descr, shape));
    return fortran ? Buffer.from(h.toString('latin1').replace("'fortran_order': False", "'fortran_order': True "), 'latin1') : h;
  };
  const cases: [string, () => string, string][] = [
    ['missing path', () => path.join(dir, 'nope.npy'), 'nope.npy: no such file or folder'],
    ['empty file', () => write('empty.npy', new Uint8Array(0)), 'empty.npy: empty file, not an .npy array'],
    ['bad magic', () => write('magic.npy', Buffer.from('PK\x03\x04 not numpy at all')), 'magic.npy: not an .npy file (bad magic)'],
    ['corrupt header', () => write('hdr.npy', Buffer.from(Buffer.from(header('<f4', [2, 2])).toString('latin1').replace("'shape'", "'shope'"), 'latin1')), "hdr.npy: corrupt .npy header: \"{'descr': '<f4', 'fortran_order': False, 'shope': (2, 2), }\""],
    ['header longer than file', () => write('short.npy', Buffer.from(header('<f4', [2])).subarray(0, 40)), 'short.npy: truncated .npy header'],
    ['truncated data', () => write('trunc.npy', Buffer.concat([header('<f4', [10, 4]), body(100)])), 'trunc.npy: truncated data: header says float32[10,4] (160 bytes) but only 100 bytes follow'],
    ['big-endian', () => write('be.npy', Buffer.concat([header('>f4', [2]), body(8)])), "be.npy: big-endian data (>f4) is not supported; save with x.astype(x.dtype.newbyteorder('<'))"],
    ['fortran order', () => write('f.npy', Buffer.concat([header('<f4', [2, 2], true), body(16)])), 'f.npy: fortran_order arrays are not supported; save with np.ascontiguousarray(x)'],
    ['complex dtype', () => write('c.npy', Buffer.concat([header('<c8', [2]), body(16)])), "c.npy: unsupported .npy dtype '<c8'"],
    ['zero samples', () => write('zero.npy', header('<f4', [0, 3])), 'zero.npy: no samples (the sample axis has length 0)'],
    ['scalar', () => write('scalar.npy', Buffer.concat([header('<f4', []), body(4)])), "scalar.npy: array for input 'scalar' is a scalar float32[]; it needs a leading sample axis"],
    ['unknown file type', () => write('data.bin', Buffer.from('hello world')), 'data.bin: not a dataset'],
    ['empty npz', () => write('empty.npz', new Uint8Array(0)), 'empty.npz: empty file, not an .npz archive'],
    ['npz that is not a zip', () => write('bad.npz', Buffer.alloc(100, 7)), 'bad.npz: not a zip/.npz file (no end of central directory record)'],
  ];
  test.each(cases)('%s → one-line InputError naming the file', (_, make, message) => {
    const p = make();
    let err: unknown;
    try {
      openDataset(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain(message);
    expect(msg.startsWith(p)).toBe(true);
  });

  test('a corrupt deflate stream inside an .npz is an InputError naming the entry', () => {
    const good = fs.readFileSync(path.join(FILES, 'deflated.npz'));
    const bad = Buffer.from(good);
    // Overwrite the middle of x.npy's compressed bytes (it starts after the 30-byte local header, name and zip64 extra).
    for (let i = 80; i < 160; i++) bad[i] = 0xff;
    const p = write('corrupt.npz', bad);
    expect(() => { const ds = openDataset(p); [...ds.batches(7)]; }).toThrow(InputError);
    expect(() => { const ds = openDataset(p); [...ds.batches(7)]; }).toThrow(`${p}:x.npy: `);
  });

  test('a truncated .npz entry is caught when opened', () => {
    const good = fs.readFileSync(path.join(FILES, 'stored.npz'));
    const p = write('cut.npz', good.subarray(0, good.length - 200));
    expect(() => openDataset(p)).toThrow(InputError);
  });
});
