import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../../src/errors';
import { checkLabelCount, openDataset, openLabels, validateAgainst } from '../../src/data';
import { FILES, npyHeader, tmpDir } from './helpers';

const f = (name: string): string => path.join(FILES, name);

describe('validateAgainst', () => {
  test('compatible shapes pass; a fixed batch dim is reported', () => {
    const ds = openDataset(f('f32_v1.npy')); // float32 [3,2,2]
    expect(validateAgainst(ds, [{ name: 'f32_v1', dtype: 'float32', shape: ['N', 2, null] }])).toEqual({});
    expect(validateAgainst(ds, [{ name: 'f32_v1', dtype: 'float32', shape: [1, 2, 2] }])).toEqual({ fixedBatch: 1 });
  });

  test.each([
    ['shape', 'f32_v1.npy', { dtype: 'float32', shape: ['N', 1, 28, 28] }, "input 'input' expects float32[N,1,28,28], got float32[3,2,2]"],
    ['a fixed dim', 'f32_v1.npy', { dtype: 'float32', shape: ['N', 2, 3] }, "input 'input' expects float32[N,2,3], got float32[3,2,2]"],
    ['dtype', 'u8_v1.npy', { dtype: 'float32', shape: ['N', 3] }, "input 'input' expects float32[N,3], got uint8[2,3]; store the data as float32"],
    ['float64 is not narrowed', 'f64_v1.npy', { dtype: 'float32', shape: [null, 2] }, "input 'input' expects float32[?,2], got float64[3,2]; store the data as float32"],
  ] as const)('%s mismatch → one line naming file, input, expected and actual', (_, file, spec, msg) => {
    const inputs = [{ name: 'input', ...spec, shape: [...spec.shape] }];
    const ds = openDataset(f(file), { inputs });
    expect(() => validateAgainst(ds, inputs)).toThrow(new InputError(msg, f(file)));
  });

  test('an .npz entry mismatch names the entry; a missing input names what the data has', () => {
    const ds = openDataset(f('stored.npz'));
    expect(() => validateAgainst(ds, [{ name: 'y', dtype: 'int32', shape: ['N', 2] }]))
      .toThrow(`${f('stored.npz')}:y.npy: input 'y' expects int32[N,2], got int64[7,2]; store the data as int32`);
    expect(() => validateAgainst(ds, [{ name: 'z', dtype: 'int32', shape: ['N'] }]))
      .toThrow(`${f('stored.npz')}: no data for model input 'z' (the data provides: x, y)`);
  });
});

describe('labels', () => {
  test('int64 class ids stream as int32 batches aligned with the dataset', () => {
    const ds = openDataset(f('deflated.npz')); // 7 samples
    const labels = openLabels(f('labels_i64.npy'));
    checkLabelCount(labels, ds);
    const lb = [...labels.batches(3, 5)];
    const db = [...ds.batches(3, 5)];
    expect(lb.map((b) => [b.start, b.count])).toEqual(db.map((b) => [b.start, b.count]));
    expect(lb.map((b) => Array.from(b.ids))).toEqual([[3, 1, 4], [1, 5]]);
    expect(lb[0].ids).toBeInstanceOf(Int32Array);
    expect(labels).toMatchObject({ count: 7, dtype: 'int64', shape: [] });
  });

  test('sequence labels [N,T] from an .npz key', () => {
    const labels = openLabels(f('stored.npz'), { key: 'y' });
    const [b] = [...labels.batches(2, 2)];
    expect(b.shape).toEqual([2, 2]);
    expect(Array.from(b.ids)).toEqual([1, 2, 3, 4]);
    expect(() => openLabels(f('stored.npz'))).toThrow(`${f('stored.npz')}: holds 2 arrays (x, y); name the labels array`);
  });

  test('count mismatch, float labels, ids beyond int32', () => {
    const ds = openDataset(f('f32_v2.npy')); // 5 samples
    expect(() => checkLabelCount(openLabels(f('labels_i64.npy')), ds))
      .toThrow(new InputError(`7 labels for 5 samples in ${f('f32_v2.npy')}`, f('labels_i64.npy')));
    expect(() => openLabels(f('f32_v2.npy'))).toThrow(`${f('f32_v2.npy')}: labels must be integer class ids, got float32[5,3]`);
    const big = openLabels(f('i64_v2.npy'));
    expect(() => [...big.batches(6)]).toThrow(`${f('i64_v2.npy')}: label 1099511627776 (row 2) is not a class id`);
  });

  test('truncated labels file', () => {
    const p = path.join(tmpDir(), 'l.npy');
    fs.writeFileSync(p, Buffer.concat([npyHeader('<i8', [10]), Buffer.alloc(40)]));
    expect(() => openLabels(p)).toThrow(new InputError('truncated data: header says int64[10] (80 bytes) but only 40 bytes follow', p));
  });
});
