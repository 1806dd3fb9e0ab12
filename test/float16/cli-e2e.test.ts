/**
 * End to end: the built `mc convert --dtype fp16` in a temp folder, JSON and
 * human output, and the exit code when there is nothing to convert.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadOnnx } from '../../src/formats/onnx';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';

describe('mc convert --dtype fp16 (built binary)', () => {
  const dir = tempDir('f16-e2e');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cnn = path.join(ROOT, 'fixtures', 'cnn.onnx');

  test('--json reports the conversion; the file holds float16 weights and float32 inputs/outputs', () => {
    const out = path.join(dir, 'cnn.fp16.onnx');
    const r = runMc(['convert', cnn, '-o', out, '--dtype', 'fp16', '--keep-io-types', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { dtype: string; verified: boolean; float16: { constantsConverted: number; keepIoTypes: boolean }; totalBytes: number; inputBytes: number };
    expect(j.dtype).toBe('fp16');
    expect(j.verified).toBe(true);
    expect(j.float16.keepIoTypes).toBe(true);
    const m = loadOnnx(out);
    expect(m.graph.inputs[0].dtype).toBe('float32');
    expect(m.graph.outputs[0].dtype).toBe('float32');
    expect(m.graph.initializers.every((v) => v.const!.dtype === 'float16')).toBe(true);
    expect(j.float16.constantsConverted).toBe(m.graph.initializers.length);
    expect(j.totalBytes).toBe(fs.statSync(out).size);
  });

  test('converting the float16 result again exits 2 and writes nothing', () => {
    const half = path.join(dir, 'half.onnx');
    expect(runMc(['convert', cnn, '-o', half, '--dtype', 'fp16']).code).toBe(0);
    const again = path.join(dir, 'again.onnx');
    const r = runMc(['convert', half, '-o', again, '--dtype', 'fp16']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no float32 weights or compute to convert/);
    expect(fs.existsSync(again)).toBe(false);
  });
});
