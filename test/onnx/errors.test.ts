import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError, PathEscapeError } from '../../src/errors';
import { encodeOnnx, loadOnnx, saveOnnx } from '../../src/formats/onnx';
import { proto } from '../../src/formats/onnx/schema';
import { buildLinearModel } from '../helpers/onnx-build';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-onnx-err-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A model whose single initializer W (float32 [4]) points at external data `entries`. */
function writeExternalModel(entries: Record<string, string>): string {
  const bytes = proto.ModelProto.encode({
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ input: ['W'], output: ['Y'], op_type: 'Identity' }],
      initializer: [{
        dims: [4], data_type: 1, name: 'W', data_location: 1,
        external_data: Object.entries(entries).map(([key, value]) => ({ key, value })),
      }],
      output: [{ name: 'Y', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 4 }] } } } }],
    },
  }).finish();
  const file = path.join(dir, 'model', 'm.onnx');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('external data locations are confined to the model folder', () => {
  test('an absolute location is refused', () => {
    const file = writeExternalModel({ location: path.join(dir, 'w.bin') });
    fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(16));
    const e = errorOf(() => loadOnnx(file));
    expect(e).toBeInstanceOf(PathEscapeError);
    expect(e.message).toContain(file);
  });

  test('a location escaping with .. is refused', () => {
    fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(16));
    expect(() => loadOnnx(writeExternalModel({ location: '../w.bin' }))).toThrow(PathEscapeError);
    expect(() => loadOnnx(writeExternalModel({ location: 'sub/../../w.bin' }))).toThrow(PathEscapeError);
  });

  test('a symlink leading outside is refused; one inside is fine', () => {
    fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(16));
    const file = writeExternalModel({ location: 'link.bin' });
    fs.symlinkSync(path.join(dir, 'w.bin'), path.join(dir, 'model', 'link.bin'));
    expect(() => loadOnnx(file)).toThrow(PathEscapeError);
    fs.rmSync(path.join(dir, 'model', 'link.bin'));
    fs.writeFileSync(path.join(dir, 'model', 'real.bin'), new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer));
    fs.symlinkSync('real.bin', path.join(dir, 'model', 'link.bin'));
    const w = loadOnnx(file).graph.initializers[0].const!;
    expect(Array.from(w.toFloat32())).toEqual([1, 2, 3, 4]);
  });

  test('saving refuses a data location outside the model folder', () => {
    expect(() => saveOnnx(buildLinearModel(), path.join(dir, 'm.onnx'), { externalData: { location: '../w.bin' } })).toThrow(PathEscapeError);
  });
});

describe('broken inputs fail with one-line InputErrors naming the file', () => {
  test('missing external file', () => {
    const file = writeExternalModel({ location: 'nowhere.bin' });
    const e = errorOf(() => loadOnnx(file));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toContain(path.join(dir, 'model', 'nowhere.bin'));
    expect(e.message).toMatch(/missing/);
  });

  test('external file too short for offset + length', () => {
    fs.mkdirSync(path.join(dir, 'model'));
    fs.writeFileSync(path.join(dir, 'model', 'w.bin'), new Uint8Array(20));
    const e = errorOf(() => loadOnnx(writeExternalModel({ location: 'w.bin', offset: '8', length: '16' })));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/too short.*needs bytes 8\.\.24, file has 20/);
  });

  test('truncated and corrupt model files', () => {
    const bytes = encodeOnnx(buildLinearModel());
    const file = path.join(dir, 'cut.onnx');
    fs.writeFileSync(file, bytes.subarray(0, bytes.byteLength - 100));
    const e = errorOf(() => loadOnnx(file));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message.startsWith(`${file}: `)).toBe(true);
    expect(e.message).not.toContain('\n');
    fs.writeFileSync(file, Buffer.from('this is not a protobuf at all, just some text\n'));
    expect(() => loadOnnx(file)).toThrow(InputError);
    fs.writeFileSync(file, new Uint8Array(0));
    expect(() => loadOnnx(file)).toThrow(/not an ONNX model/);
  });

  test('missing model file', () => {
    expect(() => loadOnnx(path.join(dir, 'absent.onnx'))).toThrow(InputError);
  });
});
