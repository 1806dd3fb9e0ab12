/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../../src/errors';
import { decodeTensorProto, encodeTensorProto } from '../../src/formats/onnx';
import { Tensor, float32ToFloat16Bytes } from '../../src/ir/tensor';
import { Batch, InputSpec, openDataset, validateAgainst } from '../../src/data';
import { tmpDir } from './helpers';
import { requireDep } from '../helpers/require-dep';

const TESTDATA = '/usr/share/libonnx-testdata/data';
const testdata = requireDep('onnx-testdata', fs.existsSync(TESTDATA), `${TESTDATA} is missing (apt-get install libonnx-testdata)`);

async function runBatch(model: string, batch: Batch): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of batch.inputs) feeds[name] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);
  const out = await session.run(feeds);
  return out[session.outputNames[0]].data as Float32Array;
}

function expected(dir: string): Float32Array {
  const file = path.join(dir, 'test_data_set_0', 'output_0.pb');
  return decodeTensorProto(fs.readFileSync(file), file).toFloat32();
}

testdata.describe('ONNX backend test data (libonnx-testdata) through onnxruntime', () => {
  test('named tensors feed inputs by name; ORT reproduces output_0.pb exactly', async () => {
    const dir = path.join(TESTDATA, 'node', 'test_add');
    const inputs: InputSpec[] = [{ name: 'x', dtype: 'float32', shape: [3, 4, 5] }, { name: 'y', dtype: 'float32', shape: [3, 4, 5] }];
    const ds = openDataset(dir, { inputs });
    expect(ds.kind).toBe('onnx-test-data');
    expect(ds.count).toBe(3);
    expect(validateAgainst(ds, inputs)).toEqual({ fixedBatch: 3 });
    const batches = [...ds.batches(1)]; // batch size is ignored: one set, one batch
    expect(batches.map((b) => [b.start, b.count])).toEqual([[0, 3]]);
    expect(Array.from(await runBatch(path.join(dir, 'model.onnx'), batches[0]))).toEqual(Array.from(expected(dir)));
  });

  test('unnamed tensors map by position (pytorch-converted Conv2d)', async () => {
    const dir = path.join(TESTDATA, 'pytorch-converted', 'test_Conv2d');
    const inputs: InputSpec[] = [{ name: '0', dtype: 'float32', shape: [2, 3, 7, 5] }];
    const ds = openDataset(dir, { inputs });
    expect(ds.describe()).toEqual([{ name: '0', dtype: 'float32', shape: [3, 7, 5], file: path.join(dir, 'test_data_set_0') }]);
    const [b] = [...ds.batches(2)];
    const got = await runBatch(path.join(dir, 'model.onnx'), b);
    const want = expected(dir);
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThan(1e-4);
  });
});

describe('ONNX test-data folders written here', () => {
  const write = (dir: string, set: number, i: number, t: Tensor): void => {
    fs.mkdirSync(path.join(dir, `test_data_set_${set}`), { recursive: true });
    fs.writeFileSync(path.join(dir, `test_data_set_${set}`, `input_${i}.pb`), encodeTensorProto(t));
  };
  const rows = (n: number, from: number): Float32Array => new Float32Array(n * 2).map((_, k) => from + k);

  test('several sets in numeric order; a limit cuts the last set along its leading dim', () => {
    const dir = tmpDir();
    write(dir, 0, 0, Tensor.fromArray('float32', [2, 2], rows(2, 0), 'a'));
    write(dir, 10, 0, Tensor.fromArray('float32', [1, 2], rows(1, 100), 'a'));
    write(dir, 2, 0, Tensor.fromArray('float32', [3, 2], rows(3, 10), 'a'));
    const ds = openDataset(dir);
    expect(ds.count).toBe(6);
    const b = [...ds.batches(100, 4)];
    expect(b.map((x) => [x.start, x.count, x.inputs.get('a')!.shape])).toEqual([[0, 2, [2, 2]], [2, 2, [2, 2]]]);
    expect(Array.from(b[1].inputs.get('a')!.data as Float32Array)).toEqual([10, 11, 12, 13]);
    expect([...ds.batches(1)].map((x) => x.inputs.get('a')!.data[0])).toEqual([0, 10, 100]);
  });

  test('float16 tensors widen for a float32 input', () => {
    const dir = tmpDir();
    write(dir, 0, 0, Tensor.fromBytes('float16', [1, 3], float32ToFloat16Bytes(new Float32Array([0.5, -2, 65504])), 'h'));
    const ds = openDataset(dir, { inputs: [{ name: 'h', dtype: 'float32', shape: ['N', 3] }] });
    const t = [...ds.batches(1)][0].inputs.get('h')!;
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data as Float32Array)).toEqual([0.5, -2, 65504]);
  });

  test('sets that disagree, tensors without a batch axis, corrupt .pb, empty folder', () => {
    const a = tmpDir();
    write(a, 0, 0, Tensor.fromArray('float32', [1, 2], rows(1, 0), 'a'));
    write(a, 1, 0, Tensor.fromArray('float32', [1, 3], new Float32Array(3), 'a'));
    expect(() => openDataset(a)).toThrow(`${path.join(a, 'test_data_set_1')}: sets disagree on inputs: first set has a:float32[2], this one a:float32[3]`);
    const b = tmpDir();
    write(b, 0, 0, Tensor.fromArray('float32', [], new Float32Array(1), 's'));
    expect(() => openDataset(b)).toThrow('has no leading batch axis');
    const c = tmpDir();
    fs.mkdirSync(path.join(c, 'test_data_set_0'));
    fs.writeFileSync(path.join(c, 'test_data_set_0', 'input_0.pb'), Buffer.from([0xff, 0xff, 0xff]));
    expect(() => openDataset(c)).toThrow(InputError);
    expect(() => openDataset(c)).toThrow(path.join(c, 'test_data_set_0', 'input_0.pb'));
    const d = tmpDir();
    fs.mkdirSync(path.join(d, 'test_data_set_0'));
    expect(() => openDataset(d)).toThrow(new InputError('no samples (no test_data_set_*/input_*.pb files)', d));
  });
});
