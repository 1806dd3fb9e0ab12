/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * The `mc convert --dtype` pipeline (pipeline/convert.ts) on the MLP fixture, in
 * a temp folder: fp16 writes a half-size model that onnxruntime runs; q4f16
 * writes MatMulNBits with float16 scales whose accuracy on the 1,000 eval
 * images drops by at most 2 points (the int4 criterion of
 * test/quantize/fixtures.test.ts); converting a float16 model again refuses
 * and writes nothing.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadOnnx } from '../../src/formats/onnx';
import { UnsupportedError } from '../../src/errors';
import { convertFile } from '../../src/pipeline/convert';
import { argmax } from '../quantize/helpers';
import { run } from './helpers';

const FIX = path.join(__dirname, '..', '..', 'fixtures');

function npy(file: string): { data: Buffer; shape: number[] } {
  const b = fs.readFileSync(path.join(FIX, file));
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  const shape = (/'shape': \(([^)]*)\)/.exec(header)![1]).split(',').filter((s) => s.trim()).map(Number);
  return { data: Buffer.from(b.subarray(10 + len)), shape };
}

const x = npy('eval-x.npy');
const images = new Float32Array(x.data.buffer, x.data.byteOffset, x.data.byteLength / 4);
const y = npy('eval-y.npy');
const labels = Array.from(new BigInt64Array(y.data.buffer, y.data.byteOffset, y.data.byteLength / 8), Number);

async function accuracy(file: string): Promise<number> {
  const logits = (await run(new Uint8Array(fs.readFileSync(file)), { input: { data: images, dims: x.shape } })).logits;
  let right = 0;
  labels.forEach((l, i) => { if (argmax(logits, i * 10, 10) === l) right++; });
  return right / labels.length;
}

describe('convertFile --dtype', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-f16-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const input = path.join(FIX, 'mlp.onnx');

  test('fp16: half the size, float32 interface kept, runs', async () => {
    const output = path.join(dir, 'mlp.fp16.onnx');
    const r = await convertFile({ input, output, dtype: 'fp16', float16: { keepIoTypes: true, blockOps: [], blockNodes: [] } });
    expect(r.verified).toBe(true);
    expect(r.float16!.constantsConverted).toBeGreaterThan(0);
    expect(Math.abs(r.totalBytes / r.inputBytes - 0.5)).toBeLessThanOrEqual(0.02);
    expect(loadOnnx(output).graph.inputs[0].dtype).toBe('float32');
    expect(Math.abs((await accuracy(input)) - (await accuracy(output)))).toBeLessThanOrEqual(0.002);
  });

  test('q4f16: MatMulNBits with float16 scales; accuracy within 2 points', async () => {
    const output = path.join(dir, 'mlp.q4f16.onnx');
    const r = await convertFile({ input, output, dtype: 'q4f16', float16: { keepIoTypes: true, blockOps: [], blockNodes: [] } });
    expect(r.quantize!.tensors.length).toBeGreaterThan(0);
    const m = loadOnnx(output);
    const nbits = m.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits.length).toBe(r.quantize!.tensors.length);
    for (const n of nbits) expect(n.inputs[2]!.const!.dtype).toBe('float16');
    expect((await accuracy(input)) - (await accuracy(output))).toBeLessThanOrEqual(0.02);
  });

  test('a model with nothing in float32 is refused and nothing is written', async () => {
    const half = path.join(dir, 'half.onnx');
    await convertFile({ input, output: half, dtype: 'fp16', float16: { keepIoTypes: false, blockOps: [], blockNodes: [] } });
    const again = path.join(dir, 'again.onnx');
    await expect(convertFile({ input: half, output: again, dtype: 'fp16' })).rejects.toThrow(UnsupportedError);
    expect(fs.existsSync(again)).toBe(false);
  });
});
