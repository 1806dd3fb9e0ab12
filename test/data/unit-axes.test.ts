/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Data whose shape differs from the model input's only by where size-1 axes
 * sit (NCHW with C = 1 for an NHWC model) is fed in the model's shape, the
 * same bytes; any other difference still fails with the one-line error.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../../src/errors';
import { encodeOnnx } from '../../src/formats/onnx';
import { Graph, Model, Node, Value } from '../../src/ir';
import { InputSpec, openDataset, unitAxesView, validateAgainst } from '../../src/data';
import { npyHeader, tmpDir } from './helpers';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An .npy of `shape` holding 0.5, 1.5, 2.5, … in row-major order. */
function writeRamp(name: string, descr: '<f4' | '<f8', shape: number[]): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = descr === '<f4' ? Float32Array.from({ length: n }, (_, i) => i + 0.5) : Float64Array.from({ length: n }, (_, i) => i + 0.5);
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([npyHeader(descr, shape), Buffer.from(data.buffer)]));
  return file;
}

describe('unitAxesView', () => {
  test.each([
    ['NCHW C=1 for NHWC', [1, 28, 28], ['N', 28, 28, 1], [28, 28, 1]],
    ['NHWC C=1 for NCHW', [28, 28, 1], [null, 1, 28, 28], [1, 28, 28]],
    ['a size-1 axis in the middle', [1, 2, 3], ['N', 2, 1, 3], [2, 1, 3]],
    ['already the same', [28, 28, 1], ['N', 28, 28, 1], undefined],
    ['3 channels: a real layout change', [3, 28, 28], ['N', 28, 28, 3], undefined],
    ['same bytes, other big dims', [64, 1, 1], ['N', 8, 8, 1], undefined],
    ['another rank', [28, 28], ['N', 28, 28, 1], undefined],
    ['an open model dim', [1, 28, 28], ['N', 28, 28, null], undefined],
  ] as const)('%s', (_, stored, model, view) => {
    expect(unitAxesView([...stored], [...model])).toEqual(view);
  });
});

describe('an .npy stored NCHW with C = 1 feeds an NHWC input', () => {
  const nhwc: InputSpec[] = [{ name: 'x', dtype: 'float32', shape: [null, 3, 2, 1] }];

  test('accepted: batches carry the model shape, describe() keeps the stored one', () => {
    const file = writeRamp('nchw.npy', '<f4', [5, 1, 3, 2]);
    const ds = openDataset(file, { inputs: nhwc });
    expect(validateAgainst(ds, nhwc)).toEqual({});
    expect(ds.describe()).toEqual([{ name: 'x', dtype: 'float32', shape: [3, 2, 1], storedShape: [1, 3, 2], file }]);
    const batches = [...ds.batches(3)];
    expect(batches.map((b) => b.inputs.get('x')!.shape)).toEqual([[3, 3, 2, 1], [2, 3, 2, 1]]);
    expect(batches.flatMap((b) => Array.from(b.inputs.get('x')!.data as Float32Array)))
      .toEqual(Array.from({ length: 30 }, (_, i) => i + 0.5));
  });

  test('without the model\'s inputs nothing is reshaped, and the check refuses', () => {
    const file = writeRamp('plain.npy', '<f4', [5, 1, 3, 2]);
    const ds = openDataset(file);
    expect(ds.describe()[0]).toEqual({ name: 'plain', dtype: 'float32', shape: [1, 3, 2], file });
    const spec = [{ ...nhwc[0], name: 'plain' }];
    expect(() => validateAgainst(ds, spec)).toThrow(new InputError("input 'plain' expects float32[?,3,2,1], got float32[5,1,3,2]", file));
  });

  test('refused: 3-channel NCHW data for an NHWC model, one line naming file, expected and actual shape', () => {
    const file = writeRamp('rgb.npy', '<f4', [2, 3, 4, 4]);
    const inputs: InputSpec[] = [{ name: 'x', dtype: 'float32', shape: ['N', 4, 4, 3] }];
    const ds = openDataset(file, { inputs });
    expect(() => validateAgainst(ds, inputs)).toThrow(InputError);
    expect(() => validateAgainst(ds, inputs)).toThrow(new Error(`${file}: input 'x' expects float32[N,4,4,3], got float32[2,3,4,4]`));
  });

  test('a dtype mismatch still names the shape the file holds', () => {
    const file = writeRamp('f64.npy', '<f8', [2, 1, 3, 2]);
    const ds = openDataset(file, { inputs: nhwc });
    expect(() => validateAgainst(ds, nhwc))
      .toThrow(new InputError("input 'x' expects float32[?,3,2,1], got float64[2,1,3,2]; store the data as float32", file));
  });

  test('the values reach an NHWC model unchanged (onnxruntime, Identity)', async () => {
    const [N, H, W] = [4, 3, 2];
    const file = writeRamp('feed.npy', '<f4', [N, 1, H, W]);
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: ['N', H, W, 1] });
    const y = new Value('y', { dtype: 'float32', shape: ['N', H, W, 1] });
    g.inputs.push(x);
    g.addNode(new Node({ opType: 'Identity', name: 'id', inputs: [x], outputs: [y] }));
    g.outputs.push(y);
    const m = new Model('onnx', g);
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 17 }];
    const session = await ort.InferenceSession.create(encodeOnnx(m));
    const spec: InputSpec[] = [{ name: 'x', dtype: 'float32', shape: ['N', H, W, 1] }];
    const ds = openDataset(file, { inputs: spec });
    validateAgainst(ds, spec);
    const [b] = [...ds.batches(N)];
    const t = b.inputs.get('x')!;
    const out = (await session.run({ x: new ort.Tensor('float32', t.data as Float32Array, t.shape) })).y;
    await session.release();
    expect(out.dims).toEqual([N, H, W, 1]);
    // Element [n,h,w,0] seen by the model is element [n,0,h,w] of the file (value index + 0.5).
    const got = out.data as Float32Array;
    for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      expect(got[((n * H + h) * W + w) * 1 + 0]).toBe(((n * 1 + 0) * H + h) * W + w + 0.5);
    }
  });
});
