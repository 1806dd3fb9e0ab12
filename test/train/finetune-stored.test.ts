/**
 * mc finetune writes a tfjs weight the input stored float16 as float16 again (vladmandic/human's
 * models are all stored so; before, a fine-tuned copy came out float32, twice the download).
 * Checked on the fixture CNN's graph model with every weight given float16 storage, against the
 * same run on a plain float32 copy holding the same decoded values: the float16 run's stored codes
 * are exactly the float16 rounding of the float32 run's trained weights, the manifest keeps its
 * quantization, the weight bytes stay half, and stock tfjs loads and runs the output.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { getTfjsQuantization, loadTfjs, saveTfjs, setTfjsQuantization, tfjsFiles } from '../../src/formats/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { floatToHalf } from '../../src/ir';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';
import { toHalfBytes } from '../tfjs/helpers';

jest.setTimeout(300_000);

const FIX = path.join(ROOT, 'fixtures');
const bytesOf = (dir: string): number => tfjsFiles(dir).slice(1).reduce((s, f) => s + fs.statSync(f).size, 0);

test('a float16-stored tfjs graph model is fine-tuned and written float16, codes = float16(the float32 run\'s weights)', async () => {
  const dir = tempDir('ft-stored');
  const half = path.join(dir, 'half');
  const plain = path.join(dir, 'plain');
  fs.mkdirSync(half);
  fs.mkdirSync(plain);
  const m = loadTfjs(path.join(FIX, 'cnn-graph'));
  const floats = m.graph.initializers.filter((v) => v.const!.dtype === 'float32');
  for (const v of floats) setTfjsQuantization(v.const!, { dtype: 'float16' }, toHalfBytes(Float32Array.from(v.const!.toFloat32())));
  saveTfjs(m, half);
  // The same decoded values, stored plain.
  const p = loadTfjs(half);
  for (const v of p.graph.initializers) {
    if (!getTfjsQuantization(v.const!)) continue;
    const d = Float32Array.from(v.const!.toFloat32());
    v.const!.setData('float32', [...v.const!.shape], { kind: 'bytes', bytes: new Uint8Array(d.buffer) });
  }
  saveTfjs(p, plain);

  const args = ['--data', path.join(FIX, 'calib-x.npy'), '--labels', path.join(FIX, 'calib-y.npy'), '--loss', 'ce', '--samples', '64', '--seed', '3', '--json'];
  const a = runMc(['finetune', half, '-o', path.join(dir, 'half-ft'), ...args]);
  const b = runMc(['finetune', plain, '-o', path.join(dir, 'plain-ft'), ...args]);
  expect([a.code, a.stderr]).toEqual([0, '']);
  expect([b.code, b.stderr]).toEqual([0, '']);
  const notes = (JSON.parse(a.stdout) as { notes: string[] }).notes;
  expect(notes.some((n) => /trained weight\(s\) stored float16 in the input are stored float16 again/.test(n))).toBe(true);

  const trainedHalf = new Map(loadTfjs(path.join(dir, 'half-ft')).graph.initializers.map((v) => [v.name, v.const!]));
  const trainedPlain = new Map(loadTfjs(path.join(dir, 'plain-ft')).graph.initializers.map((v) => [v.name, v.const!]));
  const before = new Map(loadTfjs(half).graph.initializers.map((v) => [v.name, Float32Array.from(v.const!.toFloat32())]));
  let moved = 0;
  for (const v of floats) {
    const h = trainedHalf.get(v.name)!;
    expect({ name: v.name, q: getTfjsQuantization(h)?.quantization }).toEqual({ name: v.name, q: { dtype: 'float16' } });
    const codes = Array.from(new Uint16Array(Uint8Array.from(getTfjsQuantization(h)!.storedBytes).buffer));
    const want = Array.from(trainedPlain.get(v.name)!.toFloat32(), floatToHalf);
    expect({ name: v.name, codes }).toEqual({ name: v.name, codes: want });
    if (trainedPlain.get(v.name)!.toFloat32().some((x, i) => x !== before.get(v.name)![i])) moved++;
  }
  // Training moved the weights (the comparison is not of two untouched copies).
  expect(moved).toBeGreaterThan(floats.length / 2);
  expect(bytesOf(path.join(dir, 'half-ft'))).toBe(bytesOf(half));
  expect(bytesOf(path.join(dir, 'plain-ft'))).toBeGreaterThan(1.9 * bytesOf(half));

  await initTfjs();
  const gm = await tf.loadGraphModel(tfjsFileHandler(path.join(dir, 'half-ft')));
  const y = gm.execute(tf.zeros([2, 28, 28, 1])) as tf.Tensor;
  expect(y.shape).toEqual([2, 10]);
  expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
});
