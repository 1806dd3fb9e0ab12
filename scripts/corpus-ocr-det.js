#!/usr/bin/env node
/**
 * Static int8 on PP-OCRv4's text detector with rendered text images (issue 10 §4): accuracy
 * proxies and latency against float32.
 *
 *   /usr/bin/python3 scripts/corpus-text-images.py /tmp/ocr-calib --count 16 --seed 1
 *   /usr/bin/python3 scripts/corpus-text-images.py /tmp/ocr-eval --count 8 --seed 2
 *   node scripts/corpus-ocr-det.js --calib /tmp/ocr-calib/x.npy --eval /tmp/ocr-eval/x.npy [--model det.onnx] [--out dir] [-- extra mc quantize flags]
 *
 * --model defaults to the corpus copy (node scripts/corpus.js). The script runs the built mc
 * (`npm run build` first):
 *  1. `mc quantize MODEL --calib CALIB -o OUT/det.int8.onnx --json` (static int8 QDQ);
 *  2. both models in onnxruntime (one thread) on the held-out EVAL images, one at a time:
 *     - output SQNR of the probability maps, 10·log10(Σ p² / Σ (p − q)²) over every image;
 *     - the binarised maps at 0.3 (PaddleOCR's DBPostProcess `thresh`): pixel agreement, and the IoU
 *       of the text pixels (most pixels are background, so agreement alone says little);
 *     - the share of text pixels in the float map, to show the images hold text the model finds;
 *  3. `mc eval OUT/det.int8.onnx --baseline MODEL --data EVAL --json -`: latency of both (median, ratio).
 * Prints one JSON object; exits 1 when mc fails (its message is printed).
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const THRESH = 0.3;

function parseArgs(argv) {
  const dash = argv.indexOf('--');
  const extra = dash >= 0 ? argv.slice(dash + 1) : [];
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const o = { extra };
  for (let i = 0; i < own.length; i += 2) o[own[i].replace(/^--/, '')] = own[i + 1];
  if (!o.calib || !o.eval) throw new Error('usage: corpus-ocr-det.js --calib x.npy --eval x.npy [--model det.onnx] [--out dir] [-- mc flags]');
  if (!o.model) {
    const list = JSON.parse(run(process.execPath, [path.join(__dirname, 'corpus.js'), 'list', '--json', '--only', 'ppocr-v4-det']).stdout);
    o.model = list.models[0].path;
  }
  o.out = o.out || fs.mkdtempSync(path.join(os.tmpdir(), 'mc-ocr-det-'));
  fs.mkdirSync(o.out, { recursive: true });
  return o;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return r;
}

function mc(args) {
  const r = run(process.execPath, [path.join(ROOT, 'bin', 'mc'), ...args]);
  if (r.status !== 0) throw new Error(`mc ${args.join(' ')} exited ${r.status}:\n${r.stderr.trim()}`);
  return r.stdout;
}

/** A little-endian float32 .npy (C order): { shape, data }. */
function readNpy(file) {
  const b = fs.readFileSync(file);
  const headerLen = b[6] === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = b[6] === 1 ? 10 : 12;
  const header = b.toString('latin1', start, start + headerLen);
  if (!/'descr': '<f4'/.test(header) || /'fortran_order': True/.test(header)) throw new Error(`${file}: expected a C-order float32 array`);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const off = start + headerLen;
  return { shape, data: new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length)) };
}

async function probabilityMaps(ort, model, x) {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const [n, c, h, w] = x.shape;
    const per = c * h * w;
    const maps = [];
    for (let i = 0; i < n; i++) {
      const t = new ort.Tensor('float32', x.data.slice(i * per, (i + 1) * per), [1, c, h, w]);
      const out = await s.run({ [s.inputNames[0]]: t });
      maps.push(Float32Array.from(out[s.outputNames[0]].data));
    }
    return maps;
  } finally {
    await s.release();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = require(path.join(ROOT, 'node_modules', 'onnxruntime-node'));
  const int8 = path.join(o.out, 'det.int8.onnx');
  const t0 = Date.now();
  const q = JSON.parse(mc(['quantize', o.model, '--calib', o.calib, '-o', int8, '--force', '--json', ...o.extra]));
  const quantizeSeconds = (Date.now() - t0) / 1000;
  const x = readNpy(o.eval);
  const ref = await probabilityMaps(ort, o.model, x);
  const got = await probabilityMaps(ort, int8, x);
  let signal = 0; let noise = 0; let agree = 0; let inter = 0; let union = 0; let textRef = 0; let pixels = 0;
  for (let i = 0; i < ref.length; i++) {
    for (let j = 0; j < ref[i].length; j++) {
      const p = ref[i][j]; const r = got[i][j];
      signal += p * p; noise += (p - r) * (p - r);
      const a = p > THRESH; const b = r > THRESH;
      if (a === b) agree++;
      if (a && b) inter++;
      if (a || b) union++;
      if (a) textRef++;
      pixels++;
    }
  }
  const ev = JSON.parse(mc(['eval', int8, '--baseline', o.model, '--data', o.eval, '--batch-size', '1', '--json', '-']));
  console.log(JSON.stringify({
    model: o.model,
    eval: { file: o.eval, shape: x.shape },
    quantize: {
      seconds: quantizeSeconds,
      quantizedNodes: Array.isArray(q.report.quantizedNodes) ? q.report.quantizedNodes.length : q.report.quantizedNodes,
      bytes: { before: q.size.before.bytes, after: q.size.after.bytes },
      notes: q.notes,
      warnings: q.report.warnings,
    },
    outputSqnrDb: 10 * Math.log10(signal / noise),
    binarised: { threshold: THRESH, pixelAgreement: agree / pixels, textIoU: union ? inter / union : null, floatTextShare: textRef / pixels },
    latency: {
      floatMedianMs: ev.baseline.latency.medianMs,
      int8MedianMs: ev.candidate.latency.medianMs,
      ratio: ev.delta.latencyRatio,
      runs: ev.candidate.latency.runs,
      threads: ev.candidate.latency.threads,
      cpu: ev.candidate.latency.cpu,
    },
    mcEvalFidelity: ev.candidate.fidelity && { sqnrDb: ev.candidate.fidelity.sqnrDb, samples: ev.candidate.fidelity.samples },
  }, null, 2));
}

main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
