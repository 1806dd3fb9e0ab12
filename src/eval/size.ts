import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadModel, modelFiles } from '../formats';
import { getTfjsQuantization, MODEL_JSON } from '../formats/tfjs';
import type { Model } from '../ir';
import { encodeModel, type EncodedModel, type ModelSource } from '../runtime';
import { countParameters } from '../inspect/parameters';
import { constantsOf } from '../inspect/inspect';
import { gzipBytes } from '../util/file-size';
import type { SizeFile, SizeReport } from './types';

/**
 * Size of a model: bytes and gzip bytes of every file it needs (.onnx plus
 * external data; model.json plus shards), and its weights counted by dtype.
 * Weight bytes are as stored (a tfjs uint8-quantized weight counts 1 byte per element).
 * An in-memory Model is measured as the files mc would write for it, encoded
 * here and never written: ONNX as one .onnx with every tensor inline (so a
 * model that came with external data is counted as if inlined), tfjs as
 * model.json plus shards. `name` names its files (an ONNX name ending in .onnx
 * gives the file's name; otherwise 'model.onnx').
 */
export async function measureSize(source: ModelSource, name?: string, encoded?: EncodedModel): Promise<SizeReport> {
  if (typeof source !== 'string') return sizeOf(source, encodedFiles(source, name, encoded));
  const modelPath = source;
  const files: SizeFile[] = [];
  const base = fs.statSync(modelPath).isDirectory() ? modelPath : path.dirname(modelPath);
  for (const f of modelFiles(modelPath)) {
    files.push({ path: path.relative(base, f) || path.basename(f), bytes: fs.statSync(f).size, gzipBytes: await gzipBytes(f) });
  }
  return sizeOf(loadModel(modelPath), files);
}

/**
 * The files an in-memory model would be written as, with their sizes (gzip
 * level 9, as gzipBytes measures a file). `encoded`: the model's encoding
 * already made for its runner (encodeModel), so it is not encoded twice.
 */
export function encodedFiles(model: Model, name?: string, encoded: EncodedModel = encodeModel(model, name)): SizeFile[] {
  const parts: { path: string; bytes: Uint8Array }[] = [];
  if (encoded.kind === 'onnx') {
    const file = name && /\.onnx$/i.test(name) ? path.basename(name) : 'model.onnx';
    parts.push({ path: file, bytes: encoded.bytes });
  } else {
    parts.push({ path: MODEL_JSON, bytes: Buffer.from(encoded.artifacts.modelJson, 'utf8') }, ...encoded.artifacts.shards);
  }
  return parts.map((p) => ({ path: p.path, bytes: p.bytes.byteLength, gzipBytes: zlib.gzipSync(p.bytes, { level: 9 }).byteLength }));
}

function sizeOf(model: Model, files: SizeFile[]): SizeReport {
  // One definition of a parameter across mc: inspect's (learned constants, packed int4 counted per value).
  const constants = constantsOf(model);
  const parameters = countParameters(constants);
  const bytesByDtype: Record<string, number> = {};
  for (const { tensor: t } of constants) {
    const q = getTfjsQuantization(t);
    const key = q ? q.quantization.dtype : t.dtype;
    bytesByDtype[key] = (bytesByDtype[key] ?? 0) + (q ? q.storedBytes.byteLength : t.byteLength);
  }
  return {
    bytes: files.reduce((s, f) => s + f.bytes, 0),
    gzipBytes: files.reduce((s, f) => s + f.gzipBytes, 0),
    files,
    parameters,
    bytesByDtype: Object.fromEntries(Object.entries(bytesByDtype).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}
