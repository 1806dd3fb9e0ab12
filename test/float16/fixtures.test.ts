/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * float16 conversion of the ONNX fixtures (fixtures/*.onnx): the converted model
 * runs in onnxruntime on the first 256 eval images, its logits keep ≥ 40 dB
 * SQNR against the float32 model run in onnxruntime, top-1 agrees on ≥ 99%,
 * and the encoded file is 0.5× ± 0.02 of the source.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeOnnx, encodeOnnx } from '../../src/formats/onnx';
import { convertFloat16 } from '../../src/passes/float16';
import { top1Agreement } from '../quantize/helpers';
import { run, sqnrDb } from './helpers';

const FIX = path.join(__dirname, '..', '..', 'fixtures');
const N = 256;

function evalImages(): Float32Array {
  const b = fs.readFileSync(path.join(FIX, 'eval-x.npy'));
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  expect(header).toContain("'descr': '<f4'");
  const start = 10 + len;
  return new Float32Array(b.buffer.slice(b.byteOffset + start, b.byteOffset + start + N * 28 * 28 * 4));
}

describe.each(['mlp', 'cnn'])('fixture %s in float16', (name) => {
  const file = path.join(FIX, `${name}.onnx`);
  const source = fs.readFileSync(file);
  const x = evalImages();

  test.each([true, false])('keepIoTypes %s: ≥ 40 dB, ≥ 99%% top-1, 0.5× ± 0.02', async (keepIoTypes) => {
    const model = decodeOnnx(new Uint8Array(source));
    const input = model.graph.inputs[0].name;
    const { changes: r } = convertFloat16(model, { keepIoTypes, blockOps: [], blockNodes: [] });
    expect(r.kept).toEqual([]);
    const bytes = encodeOnnx(model);
    expect(Math.abs(bytes.byteLength / source.byteLength - 0.5)).toBeLessThanOrEqual(0.02);
    const feeds = { [input]: { data: x, dims: [N, 1, 28, 28] } };
    const ref = Object.values(await run(new Uint8Array(source), feeds))[0];
    const got = Object.values(await run(bytes, feeds, { [input]: keepIoTypes ? 'float32' : 'float16' }))[0];
    expect(sqnrDb(ref, got)).toBeGreaterThanOrEqual(40);
    expect(top1Agreement(ref, got, 10)).toBeGreaterThanOrEqual(0.99);
  });
});
