import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { InputError, PathEscapeError } from '../../src/errors';
import { getTfjsQuantization, loadTfjs, saveTfjs, setTfjsQuantization, tfjsFiles } from '../../src/formats/tfjs';
import type { TfjsModelExtra } from '../../src/formats/tfjs/types';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { constNode, f32, node, placeholder, quantizeAffine, readJson, runGraphModel, seeded, tempDir, toHalfBytes, writeGraphModel } from './helpers';

beforeAll(async () => {
  await initTfjs();
});

/** A Dense→Relu→Dense graph whose manifest stores uint16, uint8, float16 and uint8-as-int32 weights. */
function writeQuantizedGraph(dir: string): void {
  const w1 = seeded(8 * 6, 21);
  const b1 = seeded(6, 22, 0.1);
  const w2 = seeded(6 * 3, 23);
  const specials = new Float32Array([0.1, -0, 6e-8, 65504, 1e5, -3.14159, 1e-5, NaN]);
  const q1 = quantizeAffine(w1, 'uint16');
  const q2 = quantizeAffine(w2, 'uint8');
  const shape = new Uint8Array([0, 13]); // int32 [-1, 12] as uint8 with min -1, scale 1
  const parts = [q1.bytes, toHalfBytes(b1), q2.bytes, shape, toHalfBytes(specials)];
  const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
  // Two shards split mid-weight.
  fs.writeFileSync(path.join(dir, 'group1-shard1of2.bin'), all.subarray(0, 50));
  fs.writeFileSync(path.join(dir, 'group1-shard2of2.bin'), all.subarray(50));
  const weights = [
    { name: 'w1', shape: [8, 6], dtype: 'float32', quantization: { dtype: 'uint16', min: q1.min, scale: q1.scale } },
    { name: 'b1', shape: [6], dtype: 'float32', quantization: { dtype: 'float16' } },
    { name: 'w2', shape: [6, 3], dtype: 'float32', quantization: { dtype: 'uint8', min: q2.min, scale: q2.scale, original_dtype: 'float32' } },
    { name: 'shape', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', min: -1, scale: 1 } },
    { name: 'specials', shape: [8], dtype: 'float32', quantization: { dtype: 'float16' } },
  ];
  const c = (name: string, dtype: string, dims: number[]): Record<string, unknown> => ({
    name, op: 'Const', attr: { value: { tensor: { dtype, tensorShape: { dim: dims.map((d) => ({ size: String(d) })) } } }, dtype: { type: dtype } },
  });
  const nodes = [
    placeholder('x', [-1, 8]),
    c('w1', 'DT_FLOAT', [8, 6]), c('b1', 'DT_FLOAT', [6]), c('w2', 'DT_FLOAT', [6, 3]), c('shape', 'DT_INT32', [2]), c('specials', 'DT_FLOAT', [8]),
    node('h', 'MatMul', ['x', 'w1'], { T: f32, transpose_a: { b: false }, transpose_b: { b: false } }),
    node('hb', 'BiasAdd', ['h', 'b1'], { T: f32 }),
    node('r', 'Relu', ['hb'], { T: f32 }),
    node('y', 'MatMul', ['r', 'w2'], { T: f32, transpose_a: { b: false }, transpose_b: { b: false } }),
    node('Identity', 'Identity', ['y', '^shape', '^specials'], { T: f32 }),
  ];
  const json = {
    format: 'graph-model', generatedBy: '2.15.0', convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1482 } },
    weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
}

/** What stock tfjs decodes from a model folder, per weight name (bytes). */
function tfjsDecoded(dir: string): Map<string, Buffer> {
  const json = readJson(path.join(dir, 'model.json')) as unknown as tf.io.ModelJSON;
  const out = new Map<string, Buffer>();
  for (const g of json.weightsManifest) {
    const buf = Buffer.concat(g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    const ts = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), g.weights);
    for (const [k, t] of Object.entries(ts)) {
      const d = t.dataSync() as Float32Array | Int32Array;
      out.set(k, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    }
  }
  return out;
}

describe('tfjs stored quantization', () => {
  test('uint8/uint16/float16/int32-from-uint8 weights decode bit for bit as tfjs-core does', () => {
    const dir = tempDir('q1');
    writeQuantizedGraph(dir);
    const m = loadTfjs(dir);
    const ref = tfjsDecoded(dir);
    expect(m.graph.initializers.map((v) => v.name)).toEqual(['w1', 'b1', 'w2', 'shape', 'specials']);
    for (const v of m.graph.initializers) {
      const t = v.const!;
      expect(getTfjsQuantization(t)).toBeDefined();
      expect(Buffer.from(t.bytes()).equals(ref.get(v.name)!)).toBe(true);
    }
    const shape = m.graph.initializers[3].const!;
    expect(shape.dtype).toBe('int32');
    expect(Array.from(shape.typed() as Int32Array)).toEqual([-1, 12]);
    const sp = m.graph.initializers[4].const!.toFloat32();
    expect(Array.from(sp.subarray(0, 7))).toEqual([Math.fround(0.0999755859375), -0, 5.960464477539063e-8, 65504, Infinity, -3.140625, 0.000010013580322265625]);
    expect(Object.is(sp[1], -0)).toBe(true);
    expect(Number.isNaN(sp[7])).toBe(true);
  });

  test('a quantized model round-trips with its stored bytes and quantization untouched', async () => {
    const dir = tempDir('q2');
    const out = tempDir('q2out');
    writeQuantizedGraph(dir);
    const x = tf.tensor2d(seeded(3 * 8, 24), [3, 8]);
    const [before] = await runGraphModel(dir, { x });
    saveTfjs(loadTfjs(dir), out);
    const [after] = await runGraphModel(out, { x });
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true);
    const a = readJson(path.join(dir, 'model.json')) as { weightsManifest: { weights: unknown[] }[] };
    const b = readJson(path.join(out, 'model.json')) as { weightsManifest: { weights: unknown[] }[] };
    expect(b.weightsManifest[0].weights).toEqual(a.weightsManifest[0].weights);
    const bin = (d: string): Buffer => Buffer.concat(tfjsFiles(d).slice(1).map((f) => fs.readFileSync(f)));
    expect(bin(out).equals(bin(dir))).toBe(true);
  });

  test('setTfjsQuantization stores a weight as uint8/float16 and tfjs decodes what the IR shows', async () => {
    const dir = tempDir('q3');
    const out = tempDir('q3out');
    const weights = { w: tf.tensor2d(seeded(8 * 4, 31), [8, 4]), b: tf.tensor1d(seeded(4, 32)) };
    await writeGraphModel(dir, [
      placeholder('x', [-1, 8]), constNode('w', weights.w), constNode('b', weights.b),
      node('y', 'MatMul', ['x', 'w'], { T: f32 }), node('z', 'BiasAdd', ['y', 'b'], { T: f32 }),
    ], weights);
    const m = loadTfjs(dir);
    const [w, b] = m.graph.initializers.map((v) => v.const!);
    const qw = quantizeAffine(new Float32Array(w.toFloat32()), 'uint8');
    setTfjsQuantization(w, { dtype: 'uint8', min: qw.min, scale: qw.scale }, qw.bytes);
    setTfjsQuantization(b, { dtype: 'float16' }, toHalfBytes(new Float32Array(b.toFloat32())));
    expect(getTfjsQuantization(w)?.quantization).toEqual({ dtype: 'uint8', min: qw.min, scale: qw.scale });
    expect(() => setTfjsQuantization(w, { dtype: 'uint16', min: 0, scale: 1 }, qw.bytes)).toThrow(/needs 64 bytes/);
    saveTfjs(m, out);
    expect(fs.statSync(tfjsFiles(out)[1]).size).toBe(32 + 8);
    const ref = tfjsDecoded(out);
    expect(Buffer.from(w.bytes()).equals(ref.get('w')!)).toBe(true);
    expect(Buffer.from(b.bytes()).equals(ref.get('b')!)).toBe(true);
    // Quantization error is bounded by half a step.
    const orig = weights.w.dataSync();
    const deq = w.toFloat32();
    for (let i = 0; i < orig.length; i++) expect(Math.abs(deq[i] - orig[i])).toBeLessThanOrEqual(qw.scale / 2 + 1e-6);
    const x = tf.tensor2d(seeded(8, 33), [1, 8]);
    const [y] = await runGraphModel(out, { x });
    const expected = tf.add(tf.matMul(x, tf.tensor2d(deq, [8, 4])), tf.tensor1d(b.toFloat32())).dataSync();
    expect(Array.from(new Float32Array(y.buffer))).toEqual(Array.from(expected));
    // setData drops the stored quantization: the weight is written plain again.
    w.setData('float32', [8, 4], { kind: 'bytes', bytes: new Uint8Array(new Float32Array(orig).buffer) });
    expect(getTfjsQuantization(w)).toBeUndefined();
    saveTfjs(m, out);
    const entry = (readJson(path.join(out, 'model.json')) as { weightsManifest: { weights: { name: string; quantization?: unknown }[] }[] }).weightsManifest[0].weights[0];
    expect(entry).toEqual({ name: 'w', shape: [8, 4], dtype: 'float32' });
  });
});

describe('tfjs graph-model extras and bad input', () => {
  test('weights of library functions stay in the manifest though no top-level node claims them', async () => {
    const dir = tempDir('e1');
    const out = tempDir('e1out');
    const weights = { w: tf.tensor2d(seeded(4, 41), [2, 2]), fn_const: tf.tensor1d([5, 6, 7], 'int32') };
    const library = { function: [{ signature: { name: 'f', inputArg: [{ name: 'a', type: 'DT_INT32' }], outputArg: [{ name: 'o', type: 'DT_INT32' }] }, nodeDef: [constNode('fn_const', weights.fn_const)], ret: { o: 'fn_const:output:0' } }] };
    await writeGraphModel(dir, [placeholder('x', [-1, 2]), constNode('w', weights.w), node('y', 'MatMul', ['x', 'w'], { T: f32 })], weights, {}, { library });
    const m = loadTfjs(dir);
    expect(m.graph.initializers.map((v) => v.name)).toEqual(['w']);
    expect((m.extra as TfjsModelExtra).looseWeights.map((v) => v.name)).toEqual(['fn_const']);
    saveTfjs(m, out);
    const b = readJson(path.join(out, 'model.json')) as { modelTopology: { library: unknown }; weightsManifest: { weights: { name: string }[] }[] };
    expect(b.modelTopology.library).toEqual(library);
    expect(b.weightsManifest[0].weights.map((w) => w.name)).toEqual(['w', 'fn_const']);
    const reloaded = loadTfjs(out).extra as TfjsModelExtra;
    expect(Array.from(reloaded.looseWeights[0].const!.typed() as Int32Array)).toEqual([5, 6, 7]);
    const [y] = await runGraphModel(out, { x: tf.tensor2d([1, 0], [1, 2]) });
    expect(Array.from(new Float32Array(y.buffer))).toEqual(Array.from(weights.w.dataSync().subarray(0, 2)));
  });

  function withManifestPath(p: string): string {
    const dir = tempDir('bad');
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({
      format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: [p], weights: [{ name: 'w', shape: [4], dtype: 'float32' }] }],
    }));
    return dir;
  }

  test('manifest paths that leave the model folder are refused', () => {
    const outside = tempDir('outside');
    fs.writeFileSync(path.join(outside, 'w.bin'), Buffer.alloc(16));
    expect(() => loadTfjs(withManifestPath('../' + path.basename(outside) + '/w.bin'))).toThrow(PathEscapeError);
    expect(() => loadTfjs(withManifestPath(path.join(outside, 'w.bin')))).toThrow(PathEscapeError);
    const dir = withManifestPath('link.bin');
    fs.symlinkSync(path.join(outside, 'w.bin'), path.join(dir, 'link.bin'));
    expect(() => loadTfjs(dir)).toThrow(PathEscapeError);
    expect(() => tfjsFiles(dir)).toThrow(PathEscapeError);
  });

  test('missing or short shards and corrupt model.json are InputErrors naming the file', () => {
    const missing = withManifestPath('gone.bin');
    expect(() => loadTfjs(missing)).toThrow(InputError);
    expect(() => loadTfjs(missing)).toThrow(/gone\.bin/);
    const short = withManifestPath('short.bin');
    fs.writeFileSync(path.join(short, 'short.bin'), Buffer.alloc(15));
    expect(() => loadTfjs(short)).toThrow(/short\.bin.*short: weight 'w' needs bytes up to 16, its group has 15/);
    const corrupt = tempDir('corrupt');
    fs.writeFileSync(path.join(corrupt, 'model.json'), '{"modelTopology": {"node": [');
    expect(() => loadTfjs(corrupt)).toThrow(InputError);
    expect(() => loadTfjs(corrupt)).toThrow(/model\.json: model\.json is not valid JSON/);
    fs.writeFileSync(path.join(corrupt, 'model.json'), '{"format":"graph-model","modelTopology":{"node":[{"name":"a","op":"Relu","input":["nope"]}]}}');
    expect(() => loadTfjs(corrupt)).toThrow(/node 'a' reads 'nope'/);
    expect(() => loadTfjs(path.join(corrupt, 'absent'))).toThrow(InputError);
  });
});
