import * as fs from 'fs';
import * as path from 'path';
import { loadModel, modelFiles } from '../formats';
import { getTfjsQuantization } from '../formats/tfjs';
import { countParameters } from '../inspect/parameters';
import { constantsOf } from '../inspect/inspect';
import { gzipBytes } from '../util/file-size';
import type { SizeFile, SizeReport } from './types';

/**
 * Size of a model: bytes and gzip bytes of every file it needs (.onnx plus
 * external data; model.json plus shards), and its weights counted by dtype.
 * Weight bytes are as stored (a tfjs uint8-quantized weight counts 1 byte per element).
 */
export async function measureSize(modelPath: string): Promise<SizeReport> {
  const files: SizeFile[] = [];
  const base = fs.statSync(modelPath).isDirectory() ? modelPath : path.dirname(modelPath);
  for (const f of modelFiles(modelPath)) {
    files.push({ path: path.relative(base, f) || path.basename(f), bytes: fs.statSync(f).size, gzipBytes: await gzipBytes(f) });
  }
  const model = loadModel(modelPath);
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
