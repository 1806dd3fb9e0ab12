/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeOnnx, externalDataStats, loadOnnx, OnnxTensorStorage, saveOnnx } from '../../src/formats/onnx';
import { UnsupportedError } from '../../src/errors';
import { buildLinearModel, floats } from '../helpers/onnx-build';
import { outputsDiffer, runOnce } from '../helpers/onnx-ort';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-onnx-ext-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const feeds = (): Record<string, ort.Tensor> => ({ X: new ort.Tensor('float32', floats(64, 3), [1, 64]) });

function entries(st: unknown): Record<string, string> {
  const s = st as OnnxTensorStorage;
  return Object.fromEntries((s.externalData ?? []).map((e) => [e.key!, e.value!]));
}

describe('external data', () => {
  test('writes big tensors to one data file at the recorded offsets; ORT outputs match the inline model', async () => {
    const model = buildLinearModel();
    const inline = encodeOnnx(model);
    const file = path.join(dir, 'm.onnx');
    saveOnnx(model, file, { externalData: { threshold: 1024 } });
    expect(fs.readdirSync(dir).sort()).toEqual(['m.onnx', 'm.onnx.data']);
    // Only W (8 KiB) is external; B (128 bytes) stays inline.
    expect(fs.statSync(file).size).toBeLessThan(1024);

    const loaded = loadOnnx(file);
    const w = loaded.graph.initializers.find((v) => v.name === 'W')!.const!;
    const b = loaded.graph.initializers.find((v) => v.name === 'B')!.const!;
    expect(w.isLazy).toBe(true);
    expect(b.isLazy).toBe(false);
    const e = entries(w.storage);
    expect(e).toEqual({ location: 'm.onnx.data', offset: '0', length: String(64 * 32 * 4) });
    const data = fs.readFileSync(path.join(dir, 'm.onnx.data'));
    const want = Buffer.from(floats(64 * 32, 7).buffer);
    expect(data.subarray(Number(e.offset), Number(e.offset) + Number(e.length)).equals(want)).toBe(true);

    const expected = await runOnce(inline, feeds());
    const actual = await runOnce(file, feeds());
    expect(outputsDiffer(expected, actual)).toBeUndefined();
  });

  test('loading is lazy: the data file is read only when bytes() is called, one tensor per read', () => {
    const file = path.join(dir, 'm.onnx');
    saveOnnx(buildLinearModel(), file, { externalData: { threshold: 100 } });
    // The real module object (the `import * as` namespace only has getters over it).
    const openSync = jest.spyOn(jest.requireActual<typeof fs>('fs'), 'openSync');
    const dataFile = path.join(dir, 'm.onnx.data');
    const dataOpens = (): number => openSync.mock.calls.filter((c) => path.resolve(String(c[0])) === dataFile).length;
    const before = externalDataStats.reads;
    const loaded = loadOnnx(file);
    expect(externalDataStats.reads).toBe(before);
    expect(dataOpens()).toBe(0);
    const w = loaded.graph.initializers[0].const!;
    expect(w.isLazy).toBe(true);
    expect(Buffer.from(w.bytes()).equals(Buffer.from(floats(64 * 32, 7).buffer))).toBe(true);
    expect(externalDataStats.reads).toBe(before + 1);
    expect(dataOpens()).toBe(1);
    openSync.mockRestore();
  });

  test('saving a derived model beside its source never reuses the source data file name', async () => {
    const file = path.join(dir, 'm.onnx');
    saveOnnx(buildLinearModel(), file, { externalData: { threshold: 100 } });
    const original = fs.readFileSync(path.join(dir, 'm.onnx.data'));
    const loaded = loadOnnx(file);
    saveOnnx(loaded, path.join(dir, 'm.int8.onnx'));
    expect(fs.readdirSync(dir).sort()).toEqual(['m.int8.onnx', 'm.int8.onnx.data', 'm.onnx', 'm.onnx.data']);
    expect(fs.readFileSync(path.join(dir, 'm.onnx.data')).equals(original)).toBe(true);
    const a = await runOnce(file, feeds());
    const b = await runOnce(path.join(dir, 'm.int8.onnx'), feeds());
    expect(outputsDiffer(a, b)).toBeUndefined();
  });

  test('re-saving to another folder writes the data file beside the new model and reads each tensor once', async () => {
    const file = path.join(dir, 'a', 'm.onnx');
    fs.mkdirSync(path.dirname(file));
    saveOnnx(buildLinearModel(), file, { externalData: { threshold: 100 } });
    const loaded = loadOnnx(file);
    const before = externalDataStats.reads;
    const out = path.join(dir, 'b', 'n.onnx');
    fs.mkdirSync(path.dirname(out));
    saveOnnx(loaded, out); // unset option: tensors that were external stay external
    expect(externalDataStats.reads - before).toBe(2); // W and B, one read each
    expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(['m.onnx.data', 'n.onnx']);
    // The new model must not depend on the old folder.
    fs.rmSync(path.join(dir, 'a'), { recursive: true });
    const again = loadOnnx(out);
    for (const v of again.graph.initializers) expect(path.dirname((v.const!.storage as OnnxTensorStorage).externalRef!.path)).toBe(path.dirname(out));
    const expected = await runOnce(encodeOnnx(buildLinearModel()), feeds());
    expect(outputsDiffer(expected, await runOnce(out, feeds()))).toBeUndefined();
    // And the in-memory model (whose lazy source folder is gone) was rebound to the new file.
    expect(Buffer.from(loaded.graph.initializers[0].const!.bytes()).equals(Buffer.from(floats(64 * 32, 7).buffer))).toBe(true);
  });

  test('re-saving over the same model and data file keeps every tensor readable', async () => {
    const file = path.join(dir, 'm.onnx');
    saveOnnx(buildLinearModel(), file, { externalData: { threshold: 100, location: 'weights.bin' } });
    const loaded = loadOnnx(file);
    saveOnnx(loaded, file, { externalData: { threshold: 1024, location: 'weights.bin' } });
    const w = loaded.graph.initializers[0].const!;
    expect(Buffer.from(w.bytes()).equals(Buffer.from(floats(64 * 32, 7).buffer))).toBe(true);
    const expected = await runOnce(encodeOnnx(buildLinearModel()), feeds());
    expect(outputsDiffer(expected, await runOnce(file, feeds()))).toBeUndefined();
  });

  test('saving is deterministic', () => {
    const a = path.join(dir, 'a.onnx');
    const b = path.join(dir, 'b.onnx');
    saveOnnx(buildLinearModel(), a, { externalData: { threshold: 100, location: 'w.bin' } });
    const first = [fs.readFileSync(a), fs.readFileSync(path.join(dir, 'w.bin'))];
    saveOnnx(buildLinearModel(), b, { externalData: { threshold: 100, location: 'w.bin' } });
    expect(fs.readFileSync(b).equals(first[0])).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'w.bin')).equals(first[1])).toBe(true);
  });

  test('a model over the protobuf limit is written with external data automatically (limit lowered for the test)', async () => {
    const model = buildLinearModel();
    expect(() => encodeOnnx(model, 4096)).toThrow(UnsupportedError);
    const file = path.join(dir, 'big.onnx');
    saveOnnx(model, file, { maxProtoBytes: 4096 });
    expect(fs.existsSync(path.join(dir, 'big.onnx.data'))).toBe(true);
    expect(fs.statSync(file).size).toBeLessThan(4096);
    // Under the limit nothing is externalized.
    saveOnnx(model, path.join(dir, 'small.onnx'));
    expect(fs.existsSync(path.join(dir, 'small.onnx.data'))).toBe(false);
    const expected = await runOnce(encodeOnnx(model), feeds());
    expect(outputsDiffer(expected, await runOnce(file, feeds()))).toBeUndefined();
  });
});
