#!/usr/bin/env node
/**
 * The README table of issue 10 §6 on the real-model corpus: for each corpus model, the float size
 * and latency, and for weight-only int8, int4, fp16, static int8 (and a 25% channel prune for the
 * CNNs) the size, latency ratio and fidelity, each measured by the built mc itself.
 *
 *   npm run build && node scripts/corpus-table.js [--only a,b] [--runs 20] [--out dir] [--isnet]
 *                                                 [--readme] [--json file]
 *   node scripts/corpus-table.js --from results.json [--readme]   re-render a --json file, measuring nothing
 *
 * For each model of `node scripts/corpus.js list` (ONNX; tfjs graph models get int8 only; models the
 * corpus marks as already quantized are left out; ISNet only with --isnet: a 1024×1024 network that
 * takes minutes per variant on 2 cores):
 *  1. inputs, written as .npy/.npz, deterministic (seeded):
 *     - PP-OCR det: text images rendered by scripts/corpus-text-images.py (as test/corpus does; its
 *       map is ~0 on random input, so an SQNR there would measure nothing);
 *     - PP-OCR rec/cls: text lines cut from such images (ink rows), preprocessed as PaddleOCR does;
 *     - ISNet: uniform [-1, 1) at its input size (test/corpus/inputs.ts' rule);
 *     - audio: a seeded speech-like signal (a gliding harmonic tone under a syllable envelope, plus
 *       noise), [N, 512] in [-1, 1] for Silero with its state zeros and sr 16000; openWakeWord's
 *       melspectrogram gets 1 s of it in int16 scale (as openWakeWord feeds it), its embedding model
 *       gets 76 frames of that melspectrogram (float model, then x/10 + 2 as openWakeWord does), and
 *       the alexa head gets 16 embeddings of those;
 *     - tfjs: scikit-image's astronaut.png preprocessed as test/quantize/corpus-tfjs.ts does.
 *     Calibration data for static int8 is the same kind of input under another seed.
 *  2. `mc eval FLOAT --data EVAL --json -`: float size and median latency;
 *  3. each variant: `mc quantize --bits 8`, `--bits 4`, `mc convert --dtype fp16`,
 *     `mc quantize --calib CALIB`, `mc prune --pattern channel --sparsity 0.25` (CNNs). A command that
 *     exits non-zero is recorded with what it said. When the output check refuses (exit 1), the variant is
 *     rebuilt with --no-output-check and measured, and the cell says the check refused and at what SQNR;
 *     a prune that stops short (exit 2, "--allow-partial") is rebuilt with --allow-partial likewise;
 *  4. `mc eval VARIANT --baseline FLOAT --data EVAL --json -`: size ratio, latency ratio (interleaved
 *     blocks), worst-output SQNR, top-1 agreement (for the classifiers).
 * Prints the Markdown table (and the CPU line) on stdout; --readme writes it into README.md's section
 * "Real models (the npm corpus)" between its markers; --json writes every measured record.
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const ROOT = path.resolve(__dirname, '..');
const MC = path.join(ROOT, 'bin', 'mc');
const SEED_EVAL = 2;
const SEED_CALIB = 1;
const SKIMAGE_ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
/** Models whose first output is a class score (per sample, or per token for rec): agreement is shown. */
const CLASSIFIERS = new Set(['ppocr-v4-rec', 'ppocr-mobile-v2-cls', 'human-emotion']);
const README_BEGIN = '<!-- corpus-table:begin (node scripts/corpus-table.js --readme) -->';
const README_END = '<!-- corpus-table:end -->';

// ---------------------------------------------------------------------------------------------
// arguments, processes

function parseArgs(argv) {
  const o = { runs: 20, only: null, out: null, isnet: false, readme: false, json: null, from: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--isnet') o.isnet = true;
    else if (a === '--readme') o.readme = true;
    else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--from') o.from = argv[++i];
    else throw new Error(`unknown argument ${a}; usage: corpus-table.js [--only a,b] [--runs n] [--out dir] [--isnet] [--readme] [--json file] [--from file]`);
  }
  o.out = o.out || fs.mkdtempSync(path.join(os.tmpdir(), 'mc-corpus-table-'));
  fs.mkdirSync(o.out, { recursive: true });
  return o;
}

function run(cmd, args) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 << 20, env: { ...process.env, NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
}

function mc(args) {
  process.stderr.write(`  mc ${args.map((a) => path.isAbsolute(a) ? path.basename(a) : a).join(' ')}\n`);
  return run(process.execPath, [MC, ...args]);
}

/** The one line that says why mc failed: its `mc: ...` message, shortened for a table cell. */
function failure(r) {
  const lines = (r.stderr || r.stdout).split('\n').map((s) => s.trim()).filter(Boolean);
  const msg = lines.find((l) => /^mc:|error/i.test(l)) || lines[lines.length - 1] || '(no message)';
  const short = msg.replace(/^mc:\s*/, '')
    .replace(/(^|[\s'"(])\/(?:tmp|work|home|root|usr)\/[^\s:'"]*\//g, '$1') // folders of file paths
    .replace(/ \(seed \d+;.*?\)\): /, ': ') // the synthetic inputs' description
    .replace(/Non-zero status code returned while running (\w+) node\. Name:'([^']*)' Status Message: (\S+:\d+ [^)]*\) )?/, "$1 '$2': ")
    .replace(/; pass --eval-data with real inputs, or --no-output-check$/, '');
  return { exit: r.status, message: short };
}

// ---------------------------------------------------------------------------------------------
// .npy / .npz writers (numpy format 1.0; .npz = zip of STORED .npy entries)

function npy(descr, shape, typed) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1'); h[6] = 1; h[7] = 0; h.writeUInt16LE(header.length, 8);
  return Buffer.concat([h, Buffer.from(header, 'latin1'), Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength)]);
}

const f32 = (shape, data) => npy('<f4', shape, data);

function writeNpz(file, entries) {
  const locals = []; const centrals = []; let offset = 0;
  for (const [name, body] of Object.entries(entries)) {
    const fname = Buffer.from(`${name}.npy`);
    const crc = zlib.crc32(body);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18); local.writeUInt32LE(body.length, 22); local.writeUInt16LE(fname.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20); central.writeUInt32LE(body.length, 24); central.writeUInt16LE(fname.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fname, body); centrals.push(central, fname);
    offset += 30 + fname.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(centrals.length / 2, 8); end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  fs.writeFileSync(file, Buffer.concat([...locals, cd, end]));
}

// ---------------------------------------------------------------------------------------------
// deterministic inputs

// The fixtures' seeded PRNG (the same generator as src/util/prng.ts).
const { mulberry32 } = require('./fixtures/prng');

function uniform(n, seed) {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * rand() - 1);
}

/**
 * `count` clips of `samples` at 16 kHz in [-1, 1]: a harmonic tone (fundamental 100-250 Hz gliding by up
 * to ±30%, 6 harmonics falling as 1/k) under a 3-6 Hz syllable envelope, plus white noise at -30 dB. Not
 * speech, but it has speech's scale, spectrum slope and on/off structure, unlike uniform noise.
 */
function speechLike(count, samples, seed) {
  const rand = mulberry32(seed);
  const out = new Float32Array(count * samples);
  for (let c = 0; c < count; c++) {
    const f0 = 100 + 150 * rand(); const glide = (rand() - 0.5) * 0.6; const rate = 3 + 3 * rand();
    const amp = 0.2 + 0.3 * rand(); const phase0 = rand() * samples;
    let phase = 0;
    for (let i = 0; i < samples; i++) {
      const t = (i + phase0) / 16000;
      phase += 2 * Math.PI * f0 * (1 + glide * Math.sin(2 * Math.PI * 0.7 * t)) / 16000;
      let s = 0;
      for (let k = 1; k <= 6; k++) s += Math.sin(k * phase) / k;
      const env = Math.max(0, Math.sin(2 * Math.PI * rate * t));
      out[c * samples + i] = amp * env * s / 2.45 + 0.03 * amp * (2 * rand() - 1);
    }
  }
  return out;
}

async function runOrt(model, feeds) {
  const ort = require(path.join(ROOT, 'node_modules', 'onnxruntime-node'));
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.shape)])));
    return out[s.outputNames[0]];
  } finally {
    await s.release();
  }
}

/** openWakeWord's features: melspectrogram(int16-scale audio) / 10 + 2, frames [N, F, 32]. */
async function owwMel(models, count, seed) {
  const samples = 16000;
  const audio = speechLike(count, samples, seed).map((v) => v * 32767);
  const frames = [];
  for (let c = 0; c < count; c++) {
    const y = await runOrt(models['oww-melspectrogram'].path, { input: { data: audio.slice(c * samples, (c + 1) * samples), shape: [1, samples] } });
    frames.push({ data: Float32Array.from(y.data, (v) => v / 10 + 2), n: y.dims[2] });
  }
  return { audio, samples, frames };
}

/** Inputs for one model and seed: { file, batch } (batch: the --batch-size to use; undefined = mc's). */
async function writeInputs(m, models, seed, count, dir) {
  const file = (ext) => path.join(dir, `${m.name}.${seed}.${ext}`);
  switch (m.name) {
    case 'ppocr-v4-det': {
      const out = renderText(path.join(dir, `text-images-${seed}`), count, seed);
      return { file: path.join(out, 'x.npy'), batch: 1, about: `${count} rendered text images 480×640` };
    }
    case 'ppocr-v4-rec':
    case 'ppocr-mobile-v2-cls': {
      const width = m.name === 'ppocr-v4-rec' ? 320 : 192;
      const x = textLines(renderText(path.join(dir, `text-images-${seed}`), Math.ceil(count / 3), seed), count, width);
      fs.writeFileSync(file('npy'), f32([x.count, 3, 48, width], x.data));
      return { file: file('npy'), about: `${x.count} text lines cropped from rendered text images, 48×${width}` };
    }
    case 'isnet-fp16':
      fs.writeFileSync(file('npy'), f32([count, 3, 1024, 1024], uniform(count * 3 * 1024 * 1024, seed)));
      return { file: file('npy'), batch: 1, about: `${count}× uniform [-1,1) [3,1024,1024]` };
    case 'oww-melspectrogram': {
      fs.writeFileSync(file('npy'), f32([count, 16000], speechLike(count, 16000, seed).map((v) => v * 32767)));
      return { file: file('npy'), about: `${count}× 1 s speech-like audio, int16 scale` };
    }
    case 'oww-embedding': {
      const { frames } = await owwMel(models, count, seed);
      const x = new Float32Array(count * 76 * 32);
      frames.forEach((f, c) => x.set(f.data.subarray(0, 76 * 32), c * 76 * 32));
      fs.writeFileSync(file('npy'), f32([count, 76, 32, 1], x));
      return { file: file('npy'), about: `${count}× 76 mel frames of speech-like audio` };
    }
    case 'oww-alexa': {
      // 16 embeddings at openWakeWord's step of 8 mel frames need 76 + 15·8 = 196 frames (≈2 s).
      const samples = 32000;
      const audio = speechLike(count, samples, seed).map((v) => v * 32767);
      const x = new Float32Array(count * 16 * 96);
      for (let c = 0; c < count; c++) {
        const mel = await runOrt(models['oww-melspectrogram'].path, { input: { data: audio.slice(c * samples, (c + 1) * samples), shape: [1, samples] } });
        const feats = Float32Array.from(mel.data, (v) => v / 10 + 2);
        const windows = new Float32Array(16 * 76 * 32);
        for (let w = 0; w < 16; w++) windows.set(feats.subarray(w * 8 * 32, (w * 8 + 76) * 32), w * 76 * 32);
        const emb = await runOrt(models['oww-embedding'].path, { input_1: { data: windows, shape: [16, 76, 32, 1] } });
        x.set(emb.data, c * 16 * 96);
      }
      fs.writeFileSync(file('npy'), f32([count, 16, 96], x));
      return { file: file('npy'), batch: 1, about: `${count}× 16 embeddings of 2 s speech-like audio` };
    }
    default:
      break;
  }
  if (m.kind === 'rnn') {
    // Silero: the state is [2, batch, 128], its batch on axis 1, and sr is a scalar; an .npz gives every
    // array a leading sample axis. With 2 samples run 2 at a time, a zero state [2, 2, 128] is the same
    // bytes either way; sr [2] cannot become a scalar, and mc says so.
    const n = 2;
    const entries = { input: f32([n, 512], speechLike(n, 512, seed)), state: f32([n, 2, 128], new Float32Array(n * 2 * 128)) };
    const inputs = JSON.parse(mc(['inspect', m.path, '--json']).stdout).inputs;
    if (inputs.some((i) => i.name === 'sr')) entries.sr = npy('<i8', [n], BigInt64Array.from([16000n, 16000n]));
    writeNpz(file('npz'), entries);
    return { file: file('npz'), batch: n, about: `${n}× 512 samples speech-like audio, state zeros${entries.sr ? ', sr 16000' : ''}` };
  }
  if (m.format === 'tfjs') return writeAstronaut(m, file('npy'));
  throw new Error(`${m.name}: no input rule`);
}

/** Renders `count` text pages 480×640 with scripts/corpus-text-images.py into `out` (NNN.png and x.npy). */
function renderText(out, count, seed) {
  const r = run('/usr/bin/python3', [path.join(__dirname, 'corpus-text-images.py'), out, '--count', String(count), '--seed', String(seed), '--height', '480', '--width', '640']);
  if (r.status !== 0) throw new Error(`rendering text images failed (needs Debian's python3-pil, python3-numpy, fonts-dejavu-core): ${r.stderr}`);
  return out;
}

/**
 * Up to `count` text lines cut from the rendered pages in `dir`, as PaddleOCR's recognizer and direction
 * classifier take them (ppocr/data/imaug/rec_img_aug.py resize_norm_img): BGR, height 48, width kept in
 * proportion up to `width` and the rest zero, (x/255 - 0.5)/0.5, CHW. A line is a band of rows holding
 * ink (grey < 110: the renderer draws text at 0-90 on backgrounds of 140-255), cropped to its ink columns
 * with 4 pixels of margin.
 */
function textLines(dir, count, width) {
  const { decodeImage, resizeBilinear } = require(path.join(ROOT, 'dist', 'data'));
  const H = 48;
  const data = new Float32Array(count * 3 * H * width);
  let n = 0;
  for (const png of fs.readdirSync(dir).filter((f) => f.endsWith('.png')).sort()) {
    const img = decodeImage(path.join(dir, png));
    const ink = (x, y) => { const i = 4 * (y * img.width + x); return (img.data[i] + img.data[i + 1] + img.data[i + 2]) / 3 < 110; };
    const rowInk = Array.from({ length: img.height }, (_, y) => { let k = 0; for (let x = 0; x < img.width; x++) if (ink(x, y)) k++; return k; });
    for (let y = 0; y < img.height && n < count; y++) {
      if (!rowInk[y]) continue;
      let end = y;
      while (end + 1 < img.height && (rowInk[end + 1] || rowInk[Math.min(img.height - 1, end + 2)] || rowInk[Math.min(img.height - 1, end + 3)])) end++;
      const top = Math.max(0, y - 4); const bottom = Math.min(img.height - 1, end + 4);
      y = end;
      if (end - top < 10) continue;
      let left = img.width; let right = 0;
      for (let yy = top; yy <= bottom; yy++) for (let x = 0; x < img.width; x++) if (ink(x, yy)) { left = Math.min(left, x); right = Math.max(right, x); }
      left = Math.max(0, left - 4); right = Math.min(img.width - 1, right + 4);
      const h = bottom - top + 1; const w = right - left + 1;
      const bgr = new Float32Array(h * w * 3);
      for (let yy = 0; yy < h; yy++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) bgr[(yy * w + x) * 3 + c] = img.data[4 * ((top + yy) * img.width + left + x) + 2 - c];
      const outW = Math.max(1, Math.min(width, Math.ceil(H * w / h)));
      const r = resizeBilinear(bgr, h, w, 3, H, outW);
      const base = n * 3 * H * width;
      for (let c = 0; c < 3; c++) for (let yy = 0; yy < H; yy++) for (let x = 0; x < outW; x++) data[base + (c * H + yy) * width + x] = (r[(yy * outW + x) * 3 + c] / 255 - 0.5) / 0.5;
      n++;
    }
    if (n === count) break;
  }
  if (n === 0) throw new Error(`no text lines found in ${dir}`);
  return { count: n, data: data.subarray(0, n * 3 * H * width) };
}

/** As test/quantize/corpus-tfjs.ts: the input ranges Human feeds each model. */
const HUMAN_PREPROCESS = {
  'human-faceres': { size: [224, 224], layout: 'NHWC', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  'human-movenet-lightning': { size: [192, 192], layout: 'NHWC', channels: 'RGB', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], int32: true },
  'human-blazeface': { size: [256, 256], layout: 'NHWC', channels: 'RGB', scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1] },
  'human-emotion': { size: [64, 64], layout: 'NHWC', channels: 'GRAY', scale: 1 / 127.5, mean: [1], std: [1] },
  'human-centernet': { size: [512, 512], layout: 'NHWC', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
};

function writeAstronaut(m, file) {
  const { decodeImage, preprocessImage, resolvePreprocess } = require(path.join(ROOT, 'dist', 'data'));
  const spec = HUMAN_PREPROCESS[m.name];
  if (!spec) throw new Error(`${m.name}: no preprocessing rule`);
  if (!fs.existsSync(SKIMAGE_ASTRONAUT)) throw new Error(`no ${SKIMAGE_ASTRONAUT}: apt-get install -y python3-skimage`);
  const { int32, ...pre } = spec;
  const p = resolvePreprocess(pre);
  const c = p.channels === 'GRAY' ? 1 : 3;
  const data = new Float32Array(p.size[0] * p.size[1] * c);
  preprocessImage(decodeImage(SKIMAGE_ASTRONAUT), p, data, 0);
  const shape = [1, p.size[0], p.size[1], c];
  fs.writeFileSync(file, int32 ? npy('<i4', shape, Int32Array.from(data, Math.round)) : f32(shape, data));
  return { file, batch: 1, about: 'astronaut.png' };
}

// ---------------------------------------------------------------------------------------------
// variants

function variants(m) {
  if (m.format === 'tfjs') return [{ key: 'int8', args: (src, out) => ['quantize', src, '--bits', '8', '-o', out] }];
  const v = [
    { key: 'int8', args: (src, out) => ['quantize', src, '--bits', '8', '-o', out] },
    { key: 'int4', args: (src, out) => ['quantize', src, '--bits', '4', '-o', out] },
    { key: 'fp16', args: (src, out) => ['convert', src, '--dtype', 'fp16', '--keep-io-types', '-o', out] },
    { key: 'static', args: (src, out, calib) => ['quantize', src, '--calib', calib.file, '-o', out, ...(calib.batch ? ['--batch-size', String(calib.batch)] : [])] },
  ];
  if (m.kind === 'cnn') v.push({ key: 'prune25', args: (src, out) => ['prune', src, '--pattern', 'channel', '--sparsity', '0.25', '-o', out] });
  return v;
}

function outputName(m, key, dir) {
  return m.format === 'tfjs' ? path.join(dir, `${m.name}-${key}`) : path.join(dir, `${m.name}.${key}.onnx`);
}

/**
 * Runs one variant's command. A refusal that a flag overrides is retried with the flag the message names,
 * keeping what the first run said: the output check unable to run on its synthetic inputs → --eval-data
 * EVAL (then --no-output-check); the output check refusing (exit 1) → --no-output-check; a partial prune
 * (exit 2) → --allow-partial.
 */
function build(m, variant, dir, calib, data) {
  const out = outputName(m, variant.key, dir);
  const args = [...variant.args(m.path, out, calib), '--force', '--json'];
  const rec = { command: `mc ${args.join(' ')}`, seconds: 0, output: out, tries: [] };
  let extra = [];
  for (;;) {
    const r = mc([...args, ...extra]);
    rec.seconds += r.seconds;
    const json = parseJson(r.stdout);
    if (r.status === 0) {
      rec.report = json;
      if (extra.length) rec.override = extra.join(' ').replace(data.file, 'EVAL');
      return rec;
    }
    rec.tries.push({ flags: extra.join(' ').replace(data.file, 'EVAL'), ...failure(r), outputCheck: json ? json.outputCheck : undefined });
    const said = r.stderr + r.stdout;
    if (r.status === 2 && /pass --eval-data/.test(said) && !extra.includes('--eval-data')) extra = ['--eval-data', data.file];
    else if ((/--no-output-check/.test(said) || extra.includes('--eval-data')) && !extra.includes('--no-output-check')) extra = ['--no-output-check'];
    else if (r.status === 2 && /--allow-partial/.test(said) && !extra.includes('--allow-partial')) extra = [...extra, '--allow-partial'];
    else return rec;
  }
}

function parseJson(s) {
  try { return JSON.parse(s); } catch { return null; }
}

function evaluate(candidate, baseline, data, runs) {
  const args = ['eval', candidate, ...(baseline ? ['--baseline', baseline] : []), '--data', data.file, '--runs', String(runs),
    '--warmup', '3', ...(data.batch ? ['--batch-size', String(data.batch)] : []), '--json', '-'];
  const r = mc(args);
  if (r.status !== 0) return { command: `mc ${args.join(' ')}`, failed: failure(r) };
  return { command: `mc ${args.join(' ')}`, report: JSON.parse(r.stdout) };
}

// ---------------------------------------------------------------------------------------------
// table

const kb = (b) => b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(0)} kB`;
const db = (x) => x === null ? '∞' : `${x.toFixed(1)}`;

/** The output check's verdict: its bound (none for int4 unless given: then it only measures) and worst SQNR. */
function checkVerdict(oc) {
  if (oc.unchecked) return `outputs not checked: ${failure({ stderr: oc.unchecked }).message.replace(/; pass --eval-data.*$/, '').replace(/^the float model fails in onnxruntime on \d+ seeded synthetic sample\(s\)/, 'the float model fails on synthetic inputs').slice(0, 120)}`;
  const worst = Math.min(...(oc.after || oc.before || []).map((o) => o.sqnrDb ?? Infinity));
  const bound = oc.bound && oc.bound.minOutputSqnrDb;
  const at = Number.isFinite(worst) ? `${worst.toFixed(1)} dB` : 'identical';
  const on = oc.inputs && oc.inputs.source === 'synthetic' ? ' on synthetic inputs' : '';
  const backed = oc.backedOff && oc.backedOff.length ? `, ${oc.backedOff.length} weight(s) backed off` : '';
  if (bound === undefined || bound === null) return `check measured ${at}${on}, no bound`;
  return `check ≥ ${bound} dB ${oc.passed ? 'passed' : 'failed'} at ${at}${on}${backed}`;
}

function cell(name, v, floatFailure) {
  if (!v) return '–';
  const parts = v.tries.map((t) => `${t.flags ? `with ${t.flags}: ` : ''}**exit ${t.exit}**: ${t.message.slice(0, 200)}${t.outputCheck ? ` (${checkVerdict(t.outputCheck)})` : ''} →`);
  if (!v.report) parts[parts.length - 1] = parts[parts.length - 1].replace(/ →$/, '');
  if (v.report && v.override) parts.push(`with ${v.override}:`);
  if (v.eval && v.eval.failed && floatFailure && v.eval.failed.message === floatFailure.message) {
    const bytes = v.report && (v.report.size ? v.report.size.after.bytes : v.report.totalBytes);
    parts.push(`${bytes ? `${kb(bytes)}; ` : ''}eval fails as for float`);
  } else if (v.eval && v.eval.failed) {
    const bytes = v.report && (v.report.size ? v.report.size.after.bytes : v.report.totalBytes);
    parts.push(`${bytes ? `${kb(bytes)}; ` : ''}eval **exit ${v.eval.failed.exit}**: ${v.eval.failed.message.slice(0, 200)}`);
  }
  if (v.eval && v.eval.report) {
    const c = v.eval.report.candidate; const d = v.eval.report.delta;
    // mc eval writes sqnrDb null for identical outputs, but also (cosine and max error null too) when the
    // candidate's outputs hold NaN; tell the two apart here rather than print NaN as ∞.
    const nan = c.fidelity && c.fidelity.sqnrDb === null && c.fidelity.maxAbsError === null;
    const fid = !c.fidelity ? '? dB' : nan ? '**NaN outputs** (eval: sqnrDb, cosine, maxAbsError null)' : `${db(c.fidelity.sqnrDb)} dB`;
    let s = `${kb(c.size.bytes)} (${d.sizeRatio.toFixed(2)}×), ${d.latencyRatio === null ? '–' : d.latencyRatio.toFixed(2)}× lat, ${fid}`;
    if (CLASSIFIERS.has(name) && c.fidelity && c.fidelity.top1Agreement !== null) s += `, ${(100 * c.fidelity.top1Agreement).toFixed(0)}% agr`;
    parts.push(s);
  }
  const extra = [];
  const fraction = v.key === 'prune25' && v.report && v.report.report && v.report.report.channelFraction;
  if (fraction) extra.push(`${(100 * fraction.achieved).toFixed(0)}% of channels`);
  if (v.report && v.report.outputCheck) extra.push(checkVerdict(v.report.outputCheck));
  if (extra.length) parts.push(`(${extra.join('; ')})`);
  return parts.join(' ').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(rows) {
  const head = '| model | float: size, latency | int8 (weight-only) | int4 (weight-only) | fp16 | static int8 | channel prune 25% |';
  const lines = [head, '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const f = r.float;
    const fl = f.failed ? `eval **exit ${f.failed.exit}**: ${f.failed.message.slice(0, 140)}`
      : `${kb(f.report.candidate.size.bytes)}, ${f.report.candidate.latency.medianMs.toFixed(2)} ms`;
    const by = Object.fromEntries(r.variants.map((v) => [v.key, v]));
    lines.push(`| ${r.name}<br><sub>${r.data.about}; ${r.runs} runs</sub> | ${fl} | ${['int8', 'int4', 'fp16', 'static', 'prune25'].map((k) => cell(r.name, by[k], f.failed)).join(' | ')} |`);
  }
  return lines.join('\n');
}

function cpuLine() {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = (info.match(/^model name\s*:\s*(.*)$/m) || [])[1] || os.cpus()[0].model;
  const flags = (info.match(/^flags\s*:\s*(.*)$/m) || [])[1] || '';
  const has = (f) => flags.split(' ').includes(f);
  return `${model.trim()} (${os.cpus().length} cores), avx2 ${has('avx2') ? 'yes' : 'no'}, avx512_vnni ${has('avx512_vnni') ? 'yes' : 'no'}`;
}

/** The commit measured: git's HEAD (with -dirty when src/ has changes), or $MC_COMMIT outside a git tree. */
function commitLabel() {
  const head = run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  if (head.status !== 0) return process.env.MC_COMMIT || 'unknown';
  const dirty = run('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']).stdout.trim() ? '-dirty' : '';
  return head.stdout.trim() + dirty;
}

function writeReadme(md) {
  const file = path.join(ROOT, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const a = text.indexOf(README_BEGIN); const b = text.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${README_BEGIN} … ${README_END} markers to write between`);
  fs.writeFileSync(file, text.slice(0, a + README_BEGIN.length) + '\n' + md + '\n' + text.slice(b));
}

// ---------------------------------------------------------------------------------------------

function render(result) {
  const { commit, command, seconds, cpu, rows } = result;
  return [
    `Measured at commit ${commit} by \`${command}\` (${Math.round(seconds / 60)} min) on ${cpu}; onnxruntime-node, 1 thread; tfjs on its wasm backend.`,
    '',
    table(rows),
  ].join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.from) {
    const md = render(JSON.parse(fs.readFileSync(o.from, 'utf8')));
    process.stdout.write(`${md}\n`);
    if (o.readme) writeReadme(md);
    return;
  }
  const t0 = Date.now();
  const list = JSON.parse(run(process.execPath, [path.join(__dirname, 'corpus.js'), 'list', '--json']).stdout).models;
  const models = Object.fromEntries(list.map((m) => [m.name, m]));
  const selected = list.filter((m) => m.kind !== 'quantized' && (m.name !== 'isnet-fp16' || o.isnet)
    && (!o.only || o.only.some((p) => m.name.startsWith(p))));
  const missing = selected.filter((m) => !m.present);
  if (missing.length) throw new Error(`corpus models missing: ${missing.map((m) => m.name).join(', ')}; run \`node scripts/corpus.js\``);
  const rows = [];
  for (const m of selected) {
    process.stderr.write(`${m.name}\n`);
    const dir = path.join(o.out, m.name);
    fs.mkdirSync(dir, { recursive: true });
    // Samples: fewer for the large inputs (a text page 480×640, ISNet's 1024×1024), whose runs take long.
    const big = m.name === 'ppocr-v4-det' || m.name === 'isnet-fp16';
    const runs = m.name === 'isnet-fp16' ? Math.min(o.runs, 5) : o.runs;
    const data = await writeInputs(m, models, SEED_EVAL, big ? 4 : 8, dir);
    const calib = await writeInputs(m, models, SEED_CALIB, big ? 8 : 32, dir);
    const row = { name: m.name, format: m.format, kind: m.kind, path: m.path, data, calib, runs, float: evaluate(m.path, null, data, runs), variants: [] };
    for (const variant of variants(m)) {
      const v = { key: variant.key, ...build(m, variant, dir, calib, data) };
      if (v.report) v.eval = evaluate(v.output, m.path, data, runs);
      row.variants.push(v);
    }
    rows.push(row);
  }
  const seconds = (Date.now() - t0) / 1000;
  const result = { commit: commitLabel(), command: `npm run build && node scripts/corpus-table.js${o.isnet ? ' --isnet' : ''}`, seconds, cpu: cpuLine(), rows };
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(result, null, 2));
  const md = render(result);
  process.stdout.write(`${md}\n`);
  if (o.readme) writeReadme(md);
  process.stderr.write(`done in ${seconds.toFixed(0)} s; files under ${o.out}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${e.stack || e.message}\n`);
    process.exit(1);
  });
}

module.exports = { textLines, speechLike, writeNpz };
