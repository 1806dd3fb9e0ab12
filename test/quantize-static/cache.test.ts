/**
 * --calib-cache: statistics written and read back give byte-identical models
 * (to each other and to a run without the cache), reading them runs no model,
 * one file serves every method, a file for another model or other data is
 * recomputed with the reason, and a file that is not a statistics file is
 * refused and left alone.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readStatisticsFile, statisticsJson } from '../../src/calibrate/stats-file';
import { InputError } from '../../src/errors';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import type { StaticQuantizeOptions } from '../../src/passes/quantize/static';
import { quantizeStaticModel } from '../../src/pipeline/static';
import { OrtRunner } from '../../src/runtime';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const CALIB = path.join(FIX, 'calib-x.npy');
// Decisions pinned: the timings would otherwise run a model even when the statistics are read.
const PINNED: Partial<StaticQuantizeOptions> = { smallLayers: ['fc1/Gemm', 'logits/Gemm'], spaceToDepthPooling: false, samples: 256 };

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-calib-cache-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function quantize(model: string, o: Partial<StaticQuantizeOptions>, cache?: string, data = CALIB) {
  const m = loadOnnx(path.join(FIX, model));
  const report = await quantizeStaticModel(m, o, { data, cache });
  return { bytes: Buffer.from(encodeOnnx(m)), report };
}

test('written and read back, the statistics give the model a run without the cache gives, byte for byte; reading runs no model', async () => {
  const file = path.join(dir, 'stats.json');
  const plain = await quantize('cnn.onnx', PINNED);
  const written = await quantize('cnn.onnx', PINNED, file);
  expect(written.report.calibration.cache).toEqual({ file, action: 'written', reason: 'there was no file' });
  const text = fs.readFileSync(file, 'utf8');
  const create = jest.spyOn(OrtRunner, 'create');
  try {
    const read = await quantize('cnn.onnx', PINNED, file);
    expect(read.report.calibration.cache).toEqual({ file, action: 'read' });
    expect(create).not.toHaveBeenCalled();
    expect(Buffer.compare(read.bytes, plain.bytes)).toBe(0);
    expect(Buffer.compare(written.bytes, plain.bytes)).toBe(0);
    // The same file serves the other methods: each gives the model its own run gives.
    for (const method of ['percentile', 'entropy', 'mse'] as const) {
      const cached = await quantize('cnn.onnx', { ...PINNED, calibrationMethod: method }, file);
      expect(cached.report.calibration.cache?.action).toBe('read');
      create.mockRestore();
      const own = await quantize('cnn.onnx', { ...PINNED, calibrationMethod: method });
      expect({ method, same: Buffer.compare(cached.bytes, own.bytes) === 0 }).toEqual({ method, same: true });
      jest.spyOn(OrtRunner, 'create');
    }
  } finally {
    jest.restoreAllMocks();
  }
  expect(fs.readFileSync(file, 'utf8')).toBe(text); // reading leaves the file as it was
  // Float64 sums, float32 ranges, ±Infinity and -0 survive the JSON: written again, the same text.
  expect(statisticsJson(readStatisticsFile(file)!)).toBe(text);
}, 120000);

test('a file for another model or other data is recomputed, with the reason, and rewritten', async () => {
  const file = path.join(dir, 'other.json');
  await quantize('cnn.onnx', PINNED, file);
  const mlp = await quantize('mlp.onnx', { ...PINNED, smallLayers: 'int8' }, file);
  expect(mlp.report.calibration.cache?.action).toBe('written');
  expect(mlp.report.calibration.cache?.reason).toMatch(/^recomputed: .*it is for another model graph \(sha256 [0-9a-f]{12}…, this one [0-9a-f]{12}…\)/);
  const plainMlp = await quantize('mlp.onnx', { ...PINNED, smallLayers: 'int8' });
  expect(Buffer.compare(mlp.bytes, plainMlp.bytes)).toBe(0);
  // Other data: the first 200 samples of the fixture's calibration set.
  const buf = fs.readFileSync(CALIB);
  const headerLen = buf.readUInt16LE(8) + 10;
  const other = path.join(dir, 'calib-200.npy');
  const header = buf.subarray(0, headerLen).toString('latin1').replace(/\((\d+),/, '(200,');
  fs.writeFileSync(other, Buffer.concat([Buffer.from(header.padEnd(headerLen - 1, ' ') + '\n', 'latin1'), buf.subarray(headerLen, headerLen + 200 * 28 * 28 * 4)]));
  const r = await quantize('mlp.onnx', { ...PINNED, smallLayers: 'int8' }, file, other);
  expect(r.report.calibration.cache?.reason).toMatch(/it is for other calibration data/);
  // Other settings.
  const s = await quantize('mlp.onnx', { ...PINNED, smallLayers: 'int8', samples: 128 }, file, other);
  expect(s.report.calibration.cache?.reason).toMatch(/computed with samples 256, this run uses 128/);
}, 120000);

test('a file that is not a statistics file is refused and left alone', async () => {
  const file = path.join(dir, 'not-stats.json');
  fs.writeFileSync(file, '{"hello": 1}\n');
  await expect(quantize('cnn.onnx', PINNED, file)).rejects.toThrow(InputError);
  await expect(quantize('cnn.onnx', PINNED, file)).rejects.toThrow(/not a calibration statistics file/);
  expect(fs.readFileSync(file, 'utf8')).toBe('{"hello": 1}\n');
});
