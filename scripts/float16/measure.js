#!/usr/bin/env node
/**
 * Measures `mc convert --dtype fp16` on models: converts each with the library
 * (dist/), runs source and result in onnxruntime-node on the same seeded
 * inputs, and prints the output SQNR and the file size ratio.
 *   node scripts/float16/measure.js [--keep-io-types] spec...
 * spec: path.onnx[:input=dims[:...]] with dims like 1x3x320x320; int64 inputs
 * take the value after '=' when prefixed by 'i64:' (e.g. sr=i64:16000).
 * float inputs get seeded uniform values in [0, 1) (inputs named 'state' get zeros);
 * dims ending in '@text' get a synthetic page of dark text lines on white,
 * normalised with the ImageNet mean/std (for detectors, whose output on noise
 * is a saturated all-background map where SQNR says nothing).
 */
const fs = require('fs');
const ort = require('onnxruntime-node');
const { loadModel } = require('../../dist/formats');
const { encodeOnnx } = require('../../dist/formats/onnx');
const { convertFloat16 } = require('../../dist/passes/float16');
const { floatToHalf } = require('../../dist/ir');
const { feedsFromSpec, sqnr, toFloat } = require('./inputs');

async function main() {
  const args = process.argv.slice(2);
  const keepIoTypes = args.includes('--keep-io-types');
  for (const spec of args.filter((a) => !a.startsWith('--'))) {
    const [file, ...ins] = spec.split(':');
    const feeds32 = {}, feeds16 = {};
    for (const [name, v] of Object.entries(feedsFromSpec(ins))) {
      if (v instanceof ort.Tensor) { feeds32[name] = feeds16[name] = v; continue; }
      feeds32[name] = new ort.Tensor('float32', v, v.dims);
      feeds16[name] = keepIoTypes ? feeds32[name] : new ort.Tensor('float16', Uint16Array.from(v, floatToHalf), v.dims);
    }
    const source = fs.readFileSync(file);
    const model = loadModel(file);
    const t0 = Date.now();
    const blockOps = (args.find((a) => a.startsWith('--block=')) ?? '--block=').slice(8).split(',').filter(Boolean);
    const { changes: r } = convertFloat16(model, { keepIoTypes, blockOps, blockNodes: [] });
    const bytes = encodeOnnx(model);
    const ms = Date.now() - t0;
    const opts = { intraOpNumThreads: 1, logSeverityLevel: 3 };
    const a = await ort.InferenceSession.create(source, opts);
    const b = await ort.InferenceSession.create(bytes, opts);
    const ya = await a.run(feeds32);
    const yb = await b.run(feeds16);
    const out = a.outputNames.map((k) => `${k}=${sqnr(toFloat(ya[k]), toFloat(yb[k])).toFixed(1)}dB(${yb[k].type})`);
    console.log(`${file.split('/').pop()}: size ${source.length} -> ${bytes.length} (${(bytes.length / source.length).toFixed(3)}x); ` +
      `${r.nodesConverted} nodes fp16, kept ${r.kept.map((k) => `${k.opType}:${k.nodes}`).join(',') || '-'}, ${r.castsInserted} casts, ` +
      `flushed ${r.flushedToZero}; convert ${ms} ms; SQNR ${out.join(' ')}`);
    await a.release();
    await b.release();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
