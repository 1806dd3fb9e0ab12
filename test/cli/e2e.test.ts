/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
/**
 * End-to-end: the built `mc` binary in temp folders. Outputs are checked by
 * running them in the stock runtimes (onnxruntime-node, @tensorflow/tfjs).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import { inspectPath } from '../../src/inspect';
import { listTree, runMc, tempDir } from '../helpers/cli-run';
import { SESSION_OPTIONS, outputsDiffer } from '../helpers/onnx-ort';

const ONNX_CONV = '/usr/share/libonnx-testdata/data/pytorch-operator/test_operator_conv/model.onnx';

/** Deterministic inputs for every graph input (symbolic dims → 1). */
function feedsFor(file: string): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inspectPath(file).inputs) {
    const shape = (input.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 0.5 + 0.5;
    feeds[input.name] = new ort.Tensor('float32', data, shape);
  }
  return feeds;
}

async function runOrt(file: string, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const s = await ort.InferenceSession.create(file, SESSION_OPTIONS);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** A small stock-tfjs CNN written with tfjs's own file handler; returns its countParams(). */
async function stockLayersModel(dir: string): Promise<number> {
  await tf.setBackend('cpu');
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }), biasInitializer: tf.initializers.constant({ value: 0.25 }) }));
  await m.save(tfjsFileHandler(dir));
  const n = m.countParams();
  m.dispose();
  return n;
}

async function predictLayers(dir: string): Promise<Float32Array> {
  const m = await tf.loadLayersModel(tfjsFileHandler(dir));
  const x = tf.tensor4d(Array.from({ length: 2 * 64 }, (_, i) => Math.cos(i * 0.21)), [2, 8, 8, 1]);
  const y = m.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  tf.dispose([x, y]);
  m.dispose();
  return out;
}

/** stderr is exactly one `mc: ...` line. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^mc: /);
  return lines[0];
}

describe('mc: exit codes and error lines', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('errors');
  });

  it('--version prints the version and exits 0', () => {
    const r = runMc(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).version);
  });

  it('bad usage exits 2', () => {
    expect(runMc([]).code).toBe(2);
    const r = runMc(['inspect', 'a.onnx', '--frobnicate'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe("mc: unknown option '--frobnicate'");
    expect(r.stdout).toBe('');
  });

  it('a missing file exits 2 with one line naming it', () => {
    const r = runMc(['inspect', 'nope/missing.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('mc: nope/missing.onnx: no such file or folder');
  });

  it('a truncated .onnx exits 2 naming it', () => {
    const bytes = fs.readFileSync(ONNX_CONV);
    fs.writeFileSync(path.join(dir, 'cut.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = runMc(['inspect', 'cut.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^mc: cut\.onnx: /);
  });

  it('a PNG or a text file given as the model exits 2 naming it', () => {
    const png = new PNG({ width: 2, height: 2 });
    fs.writeFileSync(path.join(dir, 'photo.png'), PNG.sync.write(png));
    fs.copyFileSync(path.join(dir, 'photo.png'), path.join(dir, 'photo.onnx'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello\n');
    const a = runMc(['inspect', 'photo.png'], { cwd: dir });
    expect(a.code).toBe(2);
    expect(oneLine(a.stderr)).toMatch(/^mc: photo\.png: not a model \(a PNG image\)/);
    const b = runMc(['inspect', 'photo.onnx'], { cwd: dir });
    expect(b.code).toBe(2);
    expect(oneLine(b.stderr)).toMatch(/^mc: photo\.onnx: /);
    const c = runMc(['inspect', 'notes.txt'], { cwd: dir });
    expect(c.code).toBe(2);
    expect(oneLine(c.stderr)).toMatch(/^mc: notes\.txt: not a model: expected a \.onnx file/);
  });

  it('a missing shard exits 2 naming it; a shard path escaping the folder exits 2', async () => {
    const m = path.join(dir, 'noshard');
    await stockLayersModel(m);
    fs.rmSync(path.join(m, 'weights.bin'));
    const r = runMc(['inspect', 'noshard'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/weights\.bin/);

    const e = path.join(dir, 'escape');
    await stockLayersModel(e);
    fs.renameSync(path.join(e, 'weights.bin'), path.join(dir, 'outside.bin'));
    const json = JSON.parse(fs.readFileSync(path.join(e, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../outside.bin'];
    fs.writeFileSync(path.join(e, 'model.json'), JSON.stringify(json));
    const x = runMc(['inspect', 'escape'], { cwd: dir });
    expect(x.code).toBe(2);
    expect(oneLine(x.stderr)).toMatch(/refusing path '\.\.\/outside\.bin': it escapes the model folder/);
  });
});

describe('mc inspect', () => {
  it('--json puts only the report on stdout, with tfjs countParams() as the parameter count', async () => {
    const dir = tempDir('inspect');
    const n = await stockLayersModel(path.join(dir, 'm'));
    const r = runMc(['inspect', 'm', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout);
    expect(report.parameters).toBe(n);
    expect(n).toBe(3 * 3 * 4 + 4 + 6 * 6 * 4 * 3 + 3);
    expect(report.inputs[0].shape).toEqual([null, 8, 8, 1]);
    expect(report.opTypes.map((o: { opType: string; count: number }) => `${o.opType}:${o.count}`)).toEqual(['Conv2D:1', 'Dense:1', 'Flatten:1']);
  });

  it('prints a readable table without colour codes under NO_COLOR', () => {
    const r = runMc(['inspect', ONNX_CONV]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(r.stdout).toMatch(/^ {2}Parameters {2}1,872$/m);
    expect(r.stdout).toMatch(/^ {2}Conv +1$/m);
    expect(r.stdout).toMatch(/^ {2}0 +float32 +\[20,16,50,40\]$/m);
  });
});

describe('mc convert', () => {
  it('ONNX → ONNX (inline and external data) runs in onnxruntime with identical outputs', async () => {
    const dir = tempDir('convert-onnx');
    fs.copyFileSync(ONNX_CONV, path.join(dir, 'in.onnx'));
    const a = runMc(['convert', 'in.onnx', '-o', 'out.onnx'], { cwd: dir });
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^wrote out\.onnx \(1 file, /);
    const b = runMc(['convert', 'in.onnx', '-o', 'ext.onnx', '--external-data', '64', '--json'], { cwd: dir });
    expect(b.code).toBe(0);
    const res = JSON.parse(b.stdout);
    expect(res.files.map((f: { path: string }) => path.basename(f.path))).toEqual(['ext.onnx', 'ext.onnx.data']);
    expect(fs.statSync(path.join(dir, 'ext.onnx.data')).size).toBeGreaterThanOrEqual(1872 * 4);
    expect(listTree(dir)).toEqual(['ext.onnx', 'ext.onnx.data', 'in.onnx', 'out.onnx']);

    const feeds = feedsFor(path.join(dir, 'in.onnx'));
    const want = await runOrt(path.join(dir, 'in.onnx'), feeds);
    expect(outputsDiffer(want, await runOrt(path.join(dir, 'out.onnx'), feeds))).toBeUndefined();
    expect(outputsDiffer(want, await runOrt(path.join(dir, 'ext.onnx'), feeds))).toBeUndefined();
  });

  it('refuses to overwrite the input without --force', () => {
    const dir = tempDir('convert-force');
    fs.copyFileSync(ONNX_CONV, path.join(dir, 'm.onnx'));
    const before = fs.readFileSync(path.join(dir, 'm.onnx'));
    const r = runMc(['convert', 'm.onnx', '-o', './m.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('mc: output ./m.onnx is the input; pass --force to overwrite it');
    expect(fs.readFileSync(path.join(dir, 'm.onnx')).equals(before)).toBe(true);
    const f = runMc(['convert', 'm.onnx', '-o', 'm.onnx', '--force'], { cwd: dir });
    expect(f.code).toBe(0);
    expect(listTree(dir)).toEqual(['m.onnx']);
  });

  it('refuses cross-format output and --external-data for tfjs', async () => {
    const dir = tempDir('convert-cross');
    await stockLayersModel(path.join(dir, 'm'));
    fs.copyFileSync(ONNX_CONV, path.join(dir, 'c.onnx'));
    const a = runMc(['convert', 'c.onnx', '-o', 'web'], { cwd: dir });
    expect(a.code).toBe(2);
    expect(oneLine(a.stderr)).toMatch(/cannot convert onnx to tfjs/);
    const b = runMc(['convert', 'm', '-o', 'm.onnx'], { cwd: dir });
    expect(b.code).toBe(2);
    const c = runMc(['convert', 'm', '-o', 'out', '--external-data'], { cwd: dir });
    expect(c.code).toBe(2);
    expect(oneLine(c.stderr)).toBe('mc: --external-data applies to ONNX outputs only');
    expect(listTree(dir)).toEqual(['c.onnx', 'm', 'm/model.json', 'm/weights.bin']);
  });

  it('tfjs → tfjs predicts identically in stock tfjs', async () => {
    const dir = tempDir('convert-tfjs');
    await stockLayersModel(path.join(dir, 'm'));
    const r = runMc(['convert', 'm', '-o', 'out'], { cwd: dir });
    expect(r.code).toBe(0);
    const want = await predictLayers(path.join(dir, 'm'));
    const got = await predictLayers(path.join(dir, 'out'));
    expect(got.length).toBe(6);
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    expect(listTree(path.join(dir, 'out'))).toEqual(['group1-shard1of1.bin', 'model.json']);
  });

  it('an ONNX output in a missing folder exits 2 and creates nothing', () => {
    const dir = tempDir('convert-nodir');
    fs.copyFileSync(ONNX_CONV, path.join(dir, 'm.onnx'));
    const r = runMc(['convert', 'm.onnx', '-o', 'nodir/out.onnx', '--external-data'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('mc: cannot write nodir/out.onnx: folder nodir does not exist');
    expect(listTree(dir)).toEqual(['m.onnx']);
  });

  it('leaves nothing behind when the input is broken (missing shard)', async () => {
    const dir = tempDir('convert-broken');
    await stockLayersModel(path.join(dir, 'm'));
    fs.rmSync(path.join(dir, 'm', 'weights.bin'));
    const r = runMc(['convert', 'm', '-o', 'out'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/weights\.bin/);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
    expect(listTree(dir)).toEqual(['m', 'm/model.json']);
  });
});

describe('mc convert on the shipped fixtures', () => {
  const FIX = path.join(__dirname, '..', '..', 'fixtures');
  const manifest = JSON.parse(fs.readFileSync(path.join(FIX, 'manifest.json'), 'utf8')) as {
    models: Record<string, { formats: Record<string, { path: string; outputName?: string }> }>;
  };
  const cases = Object.entries(manifest.models).flatMap(([name, m]) =>
    Object.entries(m.formats).map(([format, f]) => ({ name, format, file: path.join(FIX, f.path), outputName: f.outputName })));

  it.each(cases.map((c) => [`${c.name} ${c.format}`, c] as const))('%s round-trips with identical outputs', async (_l, c) => {
    const dir = tempDir('fixture');
    if (c.format === 'onnx') {
      const out = path.join(dir, 'out.onnx');
      expect(runMc(['convert', c.file, '-o', out]).code).toBe(0);
      const feeds = feedsFor(c.file);
      const want = await runOrt(c.file, feeds);
      expect(outputsDiffer(want, await runOrt(out, feeds))).toBeUndefined();
      return;
    }
    const out = path.join(dir, 'out');
    expect(runMc(['convert', c.file, '-o', out]).code).toBe(0);
    await tf.setBackend('cpu');
    const x = tf.tensor4d(Array.from({ length: 3 * 784 }, (_, i) => (Math.sin(i * 0.13) + 1) / 2), [3, 28, 28, 1]);
    const predict = async (p: string): Promise<Float32Array> => {
      if (c.format === 'tfjs-layers') {
        const m = await tf.loadLayersModel(tfjsFileHandler(p));
        const y = m.predict(x) as tf.Tensor;
        const d = y.dataSync() as Float32Array;
        tf.dispose(y);
        m.dispose();
        return d;
      }
      const m = await tf.loadGraphModel(tfjsFileHandler(p));
      const y = m.execute(x, c.outputName) as tf.Tensor;
      const d = y.dataSync() as Float32Array;
      tf.dispose(y);
      m.dispose();
      return d;
    };
    const want = await predict(c.file);
    const got = await predict(out);
    x.dispose();
    expect(got.length).toBe(30);
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });
});
