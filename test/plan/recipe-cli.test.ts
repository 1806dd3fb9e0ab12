/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * Recipes end to end through the built binary: a command line written down by
 * --recipe-out and run by `mc apply` gives the same bytes; a mixed-precision
 * recipe gives the forms it asks for and a model onnxruntime runs; the recipe is
 * recorded in the output and shown by `mc inspect`; the recipe's eval gate exits 1.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { loadModel, saveModel } from '../../src/formats';
import { quantizeFile } from '../../src/pipeline/quantize';
import { pruneFile } from '../../src/pipeline/prune';
import { PRUNE_DEFAULTS } from '../../src/passes/prune';
import { resolveQuantizeOptions } from '../../src/passes/quantize/options';
import { parseNpyHeader } from '../../src/data/npy';
import { ROOT, runMc, tempDir } from '../helpers/cli-run';
import { runOrt, sqnr } from '../quantize/helpers';

const FIX = path.join(ROOT, 'fixtures');

function setup(tag: string): string {
  const dir = tempDir(`plan-${tag}`);
  for (const f of ['cnn.onnx', 'calib-x.npy', 'eval-x.npy', 'eval-y.npy']) fs.copyFileSync(path.join(FIX, f), path.join(dir, f));
  return dir;
}

function ok(r: { code: number; stderr: string }): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

function metadata(file: string): Map<string, string> {
  return new Map(loadModel(file).metadataProps.map((m) => [m.key, m.value]));
}

describe('--recipe-out then mc apply reproduces the command line, byte for byte', () => {
  const dir = setup('same');
  const cases: [string, string[]][] = [
    ['weight int8', ['quantize', 'cnn.onnx', '--bits', '8']],
    ['weight int4', ['quantize', 'cnn.onnx', '--bits', '4', '--exclude', 'conv1*']],
    ['prune', ['prune', 'cnn.onnx', '--sparsity', '0.5', '--scope', 'global']],
    // In a sub-folder: the recipe's paths (model, calib) are written relative to it.
    ['static', ['quantize', 'cnn.onnx', '--calib', 'calib-x.npy', '--calib-method', 'percentile', '--recipe-out', 'sub/r.yaml']],
  ];
  test.each(cases)('%s', (tag, args) => {
    const recipe = args.includes('--recipe-out') ? 'sub/r.yaml' : `${tag.replace(' ', '-')}.yaml`;
    if (recipe.startsWith('sub/')) fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const full = args.includes('--recipe-out') ? args : [...args, '--recipe-out', recipe];
    ok(runMc([...full, '-o', 'a.onnx'], { cwd: dir }));
    const text = fs.readFileSync(path.join(dir, recipe), 'utf8');
    expect(text).toMatch(/^# mc recipe/);
    expect(text).toContain(recipe.startsWith('sub/') ? 'model: ../cnn.onnx' : 'model: cnn.onnx');
    // From another working directory, the model from the recipe's model: key.
    ok(runMc(['apply', path.join(dir, recipe), '-o', path.join(dir, 'b.onnx')], { cwd: ROOT }));
    const a = fs.readFileSync(path.join(dir, 'a.onnx'));
    const b = fs.readFileSync(path.join(dir, 'b.onnx'));
    expect(a.equals(b)).toBe(true);
    const meta = metadata(path.join(dir, 'a.onnx'));
    const json = meta.get('mc.recipe')!;
    expect(meta.get('mc.recipe.sha256')).toBe(createHash('sha256').update(json).digest('hex'));
    const canon = JSON.parse(json);
    expect(canon.model).toBeUndefined();
    expect(canon.steps).toHaveLength(1);
  }, 120_000);

  test('a short hand-written recipe gives the same model as the flags: defaults are filled before hashing', () => {
    fs.writeFileSync(path.join(dir, 'short.yaml'), 'steps:\n  - quantize: { bits: 4 }\n    exclude: ["conv1*"]\n');
    ok(runMc(['quantize', 'cnn.onnx', '--bits', '4', '--exclude', 'conv1*', '-o', 'flags.onnx'], { cwd: dir }));
    ok(runMc(['apply', 'short.yaml', 'cnn.onnx', '-o', 'short.onnx'], { cwd: dir }));
    expect(fs.readFileSync(path.join(dir, 'flags.onnx')).equals(fs.readFileSync(path.join(dir, 'short.onnx')))).toBe(true);
  });

  test('a different recipe gives a different recorded hash', () => {
    ok(runMc(['quantize', 'cnn.onnx', '--bits', '4', '--block-size', '16', '-o', 'c.onnx'], { cwd: dir }));
    ok(runMc(['quantize', 'cnn.onnx', '--bits', '4', '-o', 'd.onnx'], { cwd: dir }));
    expect(metadata(path.join(dir, 'c.onnx')).get('mc.recipe.sha256')).not.toBe(metadata(path.join(dir, 'd.onnx')).get('mc.recipe.sha256'));
  });
});

describe('the commands through the plan write what the file jobs write, apart from the recipe metadata', () => {
  const dir = setup('plain');
  const withoutRecipe = (f: string): Buffer => {
    const m = loadModel(f);
    m.metadataProps = m.metadataProps.filter((p) => !p.key.startsWith('mc.recipe'));
    const out = `${f}.stripped.onnx`;
    saveModel(m, out, { force: true });
    return fs.readFileSync(out);
  };
  const at = (f: string): string => path.join(dir, f);

  test('mc quantize --bits 4 --exclude and quantizeFile', async () => {
    ok(runMc(['quantize', 'cnn.onnx', '--bits', '4', '--exclude', 'conv1*', '-o', 'cli.onnx'], { cwd: dir }));
    await quantizeFile({ input: at('cnn.onnx'), output: at('lib.onnx'), quantize: resolveQuantizeOptions({ bits: 4, exclude: ['conv1*'] }) });
    expect(metadata(at('cli.onnx')).has('mc.recipe')).toBe(true);
    expect(withoutRecipe(at('cli.onnx')).equals(withoutRecipe(at('lib.onnx')))).toBe(true);
  }, 60_000);

  test('mc prune and pruneFile', async () => {
    ok(runMc(['prune', 'cnn.onnx', '--sparsity', '0.5', '-o', 'cli-p.onnx'], { cwd: dir }));
    await pruneFile({ input: at('cnn.onnx'), output: at('lib-p.onnx'), prune: { ...PRUNE_DEFAULTS, sparsity: 0.5, rounds: 1 }, samples: 256, batchSize: 32, force: false });
    expect(withoutRecipe(at('cli-p.onnx')).equals(withoutRecipe(at('lib-p.onnx')))).toBe(true);
  }, 60_000);
});

describe('tfjs: the same recipe path, recorded in userDefinedMetadata', () => {
  test('--recipe-out then mc apply gives the same files; mc inspect shows the recipe', () => {
    const dir = tempDir('plan-tfjs');
    fs.cpSync(path.join(FIX, 'cnn-layers'), path.join(dir, 'cnn-layers'), { recursive: true });
    ok(runMc(['quantize', 'cnn-layers', '--bits', '4', '--exclude', 'conv1*', '--recipe-out', 'r.yaml', '-o', 'a'], { cwd: dir }));
    ok(runMc(['apply', 'r.yaml', '-o', 'b'], { cwd: dir }));
    const files = fs.readdirSync(path.join(dir, 'a')).sort();
    expect(fs.readdirSync(path.join(dir, 'b')).sort()).toEqual(files);
    for (const f of files) expect(fs.readFileSync(path.join(dir, 'a', f)).equals(fs.readFileSync(path.join(dir, 'b', f)))).toBe(true);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'a', 'model.json'), 'utf8')).userDefinedMetadata;
    expect(meta['mc.recipe.sha256']).toBe(createHash('sha256').update(JSON.stringify(meta['mc.recipe'])).digest('hex'));
    const j = JSON.parse(runMc(['inspect', path.join(dir, 'b'), '--json']).stdout);
    expect(j.recipe.sha256).toBe(meta['mc.recipe.sha256']);
    expect(j.recipe.matches).toBe(true);
    expect(j.recipe.steps).toEqual(['quantize int4 block 32 except conv1*']);
  }, 120_000);
});

/** The constant feeding input `i` of the DequantizeLinear or MatMulNBits that replaced weight `w`. */
function formOf(file: string, w: string): { op: string; dtype: string; blockSize?: number; axis?: number } | 'float' {
  const m = loadModel(file);
  if (m.graph.initializers.some((v) => v.name === w)) return 'float';
  for (const n of m.graph.nodes) {
    const q = n.inputs[n.opType === 'MatMulNBits' ? 1 : 0];
    if ((n.opType === 'DequantizeLinear' || n.opType === 'MatMulNBits') && q?.const && q.name.startsWith(w)) {
      return {
        op: n.opType, dtype: q.const.dtype,
        blockSize: n.attributes.has('block_size') ? n.attrInt('block_size') : undefined,
        axis: n.attributes.has('axis') ? n.attrInt('axis') : undefined,
      };
    }
  }
  throw new Error(`no trace of ${w} in ${file}`);
}

function npy(file: string): { data: Uint8Array; shape: number[]; dtype: string } {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const h = parseNpyHeader(bytes, file);
  return { data: bytes.slice(h.dataOffset), shape: h.shape, dtype: h.dtype };
}

describe('mixed precision: int4 on conv2, int8 on conv3 and fc1, float on the rest (fixtures/cnn.onnx)', () => {
  const dir = setup('mixed');
  const recipe = [
    'model: cnn.onnx',
    'steps:',
    '  - quantize: { bits: 4, int4-format: qdq }',
    '    layers: ["conv2.weight"]',
    '  - quantize: { bits: 8 }',
    '    layers: ["conv3/Conv", "/^fc1\\\\./"]   # a node name and a regex',
    '',
  ].join('\n');
  const out = path.join(dir, 'cnn.mc.onnx');
  let report: { forms: { name: string; steps: string; form: string }[] };

  beforeAll(() => {
    fs.writeFileSync(path.join(dir, 'mc.yaml'), recipe);
    const r = runMc(['apply', 'mc.yaml', '--json'], { cwd: dir });
    ok(r);
    report = JSON.parse(r.stdout);
  }, 120_000);

  test('each weight has the form asked for, in the written graph and in the report', () => {
    expect(formOf(out, 'conv2.weight')).toEqual({ op: 'DequantizeLinear', dtype: 'int4', blockSize: 32, axis: 1 });
    expect(formOf(out, 'conv3.weight')).toEqual({ op: 'DequantizeLinear', dtype: 'int8', blockSize: undefined, axis: 0 });
    expect(formOf(out, 'fc1.weight')).toEqual({ op: 'DequantizeLinear', dtype: 'int8', blockSize: undefined, axis: 0 });
    expect(formOf(out, 'conv1.weight')).toBe('float');
    expect(formOf(out, 'logits.weight')).toBe('float');
    const rows = Object.fromEntries(report.forms.map((f) => [f.name, [f.steps, f.form.split(' (')[0]]]));
    expect(rows).toEqual({
      'conv1.weight': ['', 'float'], 'conv2.weight': ['steps[0]', 'int4 block 32'], 'conv3.weight': ['steps[1]', 'int8 channel'],
      'fc1.weight': ['steps[1]', 'int8 channel'], 'logits.weight': ['', 'float'],
    });
  });

  test('onnxruntime runs it, and mc eval reports the accuracy this test counts itself', async () => {
    const x = npy(path.join(dir, 'eval-x.npy'));
    const y = npy(path.join(dir, 'eval-y.npy'));
    const n = x.shape[0];
    const images = new Float32Array(x.data.buffer, x.data.byteOffset, x.data.byteLength / 4);
    const labels = new BigInt64Array(y.data.buffer, y.data.byteOffset, n);
    const feeds = { input: { data: images, dims: x.shape } };
    const [logits] = await runOrt(new Uint8Array(fs.readFileSync(out)), feeds);
    const [float] = await runOrt(new Uint8Array(fs.readFileSync(path.join(dir, 'cnn.onnx'))), feeds);
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === Number(labels[i])) correct++;
    }
    // Not the float model's outputs, yet close to them.
    expect(sqnr(float, logits)).toBeGreaterThan(15);
    expect(sqnr(float, logits)).toBeLessThan(200);
    const r = runMc(['eval', 'cnn.mc.onnx', '--data', 'eval-x.npy', '--labels', 'eval-y.npy', '--json', 'e.json', '--runs', '2', '--warmup', '1'], { cwd: dir });
    expect(r.code).toBe(0);
    const e = JSON.parse(fs.readFileSync(path.join(dir, 'e.json'), 'utf8'));
    expect(e.candidate.accuracy.samples).toBe(n);
    expect(e.candidate.accuracy.top1).toBeCloseTo(correct / n, 10);
  }, 120_000);

  test('mc inspect shows the recipe and its hash; --json carries the recipe', () => {
    const h = runMc(['inspect', out]);
    ok(h);
    const sha = metadata(out).get('mc.recipe.sha256')!;
    expect(h.stdout).toContain(`sha256 ${sha}`);
    expect(h.stdout).toContain('steps[0] quantize int4 block 32 on conv2.weight');
    expect(h.stdout).toContain('steps[1] quantize int8 channel on conv3/Conv, /^fc1\\./');
    const j = JSON.parse(runMc(['inspect', out, '--json']).stdout);
    expect(j.recipe.sha256).toBe(sha);
    expect(j.recipe.matches).toBe(true);
    expect(j.recipe.recipe).toEqual(JSON.parse(metadata(out).get('mc.recipe')!));
    expect(j.recipe.recipe.steps[1].layers).toEqual(['conv3/Conv', '/^fc1\\./']);
  });
});

describe('the recipe eval: gate', () => {
  test('a broken budget exits 1 and names it; a holding one exits 0', () => {
    const dir = setup('gate');
    const base = 'model: cnn.onnx\nsteps:\n  - quantize: { bits: 8 }\neval:\n  data: eval-x.npy\n  labels: eval-y.npy\n';
    fs.writeFileSync(path.join(dir, 'bad.yaml'), `${base}  budgets: { min-sqnr: 300 }\n`);
    fs.writeFileSync(path.join(dir, 'good.yaml'), `${base}  budgets: { max-accuracy-drop: 5 }\n`);
    const bad = runMc(['apply', 'bad.yaml', '-o', 'b.onnx'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/budget broken: --min-sqnr/);
    const good = runMc(['apply', 'good.yaml', '-o', 'g.onnx'], { cwd: dir });
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/top-1 accuracy/);
  }, 180_000);
});

describe('bad recipes: exit 2, one line naming the file, line and key, nothing written', () => {
  const dir = setup('bad');
  const cases: [string, string, RegExp][] = [
    ['unknown key', 'steps:\n  - prune: { sparsity: 0.5 }\n  - quantize:\n      bits: 4\n      blok-size: 32\n',
      /^mc: r\.yaml:5: steps\[1\]\.quantize: unknown key 'blok-size' \(did you mean 'block-size'\?\)$/],
    ['wrong type', 'steps:\n  - quantize: { bits: eight }\n', /^mc: r\.yaml:2: steps\[0\]\.quantize\.bits must be 8 or 4, got "eight"$/],
    ['misplaced key', 'steps:\n  - quantize:\n      bits: 8\n      exclude: [a]\n', /^mc: r\.yaml:4: steps\[0\]\.quantize: unknown key 'exclude' \(exclude sits next to prune:\/quantize:, at the step level\)$/],
    ['no match', 'steps:\n  - quantize: { bits: 8 }\n    layers:\n      - conv1*\n      - conv9*\n', /^mc: r\.yaml:5: steps\[0\]\.layers\[1\]: 'conv9\*' matches no weight .*allow-empty/],
    ['exclude no match', 'steps:\n  - prune: { sparsity: 0.3 }\n    exclude: ["/head/"]\n', /^mc: r\.yaml:3: steps\[0\]\.exclude\[0\]: '\/head\/' matches no weight/],
    ['two steps, one weight', 'steps:\n  - quantize: { bits: 4 }\n    layers: ["conv*"]\n  - quantize: { bits: 8 }\n    layers: ["fc1.weight", "conv3.weight"]\n',
      /^mc: r\.yaml:4: steps\[1\]\.quantize and steps\[0\]\.quantize \(r\.yaml:2\) both quantize 'conv3\.weight'/],
    ['yaml syntax', 'steps:\n  - quantize: { bits: 4\n  - prune: x\n', /^mc: r\.yaml:3: YAML: /],
    ['bad value', 'steps:\n  - quantize: { bits: 4, block-size: 24 }\n', /^mc: r\.yaml:2: steps\[0\]\.quantize: block-size must be a power of two ≥ 16, got 24$/],
    ['bad regex', 'steps:\n  - quantize: { bits: 8 }\n    exclude: ["/(/"]\n', /^mc: r\.yaml:3: steps\[0\]\.exclude\[0\]: invalid regular expression/],
    ['static beside weight-only', 'steps:\n  - quantize: { bits: 4 }\n    layers: [fc1.weight]\n  - quantize: { calib: calib-x.npy }\n',
      /^mc: r\.yaml:4: steps\[1\]\.quantize: a static \(calib\) step does not combine with weight-only\/dynamic steps \(steps\[0\]\.quantize\)/],
    ['order', 'steps:\n  - quantize: { bits: 8 }\n  - prune: { sparsity: 0.5 }\n', /^mc: r\.yaml:3: steps\[1\]\.prune: steps run in the order prune, finetune, quantize/],
    ['static key without calib', 'steps:\n  - quantize: { bits: 8, calib-method: mse }\n', /^mc: r\.yaml:2: steps\[0\]\.quantize: 'calib-method' is a static int8 key; it needs calib/],
    ['a step left with nothing', 'steps:\n  - quantize: { bits: 4 }\n  - quantize: { bits: 8 }\n', /^mc: r\.yaml:3: steps\[1\]\.quantize: takes no weight \(the other steps took every one it would\); allow-empty: true accepts it$/],
    ['missing steps', 'stpes: []\n', /^mc: r\.yaml:1: recipe: unknown key 'stpes' \(did you mean 'steps'\?\)$/],
  ];
  test.each(cases)('%s', (_tag, text, message) => {
    fs.writeFileSync(path.join(dir, 'r.yaml'), text);
    const r = runMc(['apply', 'r.yaml', 'cnn.onnx', '-o', 'x.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
    expect(fs.existsSync(path.join(dir, 'x.onnx'))).toBe(false);
  });

  test('JSON recipes too, and a recipe without a model on either side', () => {
    fs.writeFileSync(path.join(dir, 'r.json'), '{\n  "steps": [\n    { "prune": { "sparsity": 1.5 } }\n  ]\n}\n');
    const r = runMc(['apply', 'r.json', 'cnn.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mc: r.json:3: steps[0].prune.sparsity must be < 1, got 1.5\n');
    fs.writeFileSync(path.join(dir, 'n.yaml'), 'steps:\n  - quantize: { bits: 8 }\n');
    const n = runMc(['apply', 'n.yaml'], { cwd: dir });
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/^mc: n\.yaml: no model: give it on the command line/);
  });

  test('a flag that matches no weight is the same error on the command line', () => {
    const r = runMc(['quantize', 'cnn.onnx', '--bits', '8', '--exclude', 'nothing*', '-o', 'x.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mc: command line: --exclude: 'nothing\*' matches no weight/);
  });
});
