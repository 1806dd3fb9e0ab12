/**
 * TensorFlow.js models: model.json + binary weight shards, for both
 * `graph-model` (tfjs-converter) and `layers-model` (Keras topology).
 *
 * API
 *   loadTfjs(path)            path = model.json or its folder → Model ('tfjs-graph' | 'tfjs-layers')
 *   saveTfjs(model, outDir)   writes shards (≤ 4 MiB, group1-shardKofN.bin), then model.json, each atomically
 *   isTfjsPath(path)          a folder holding model.json, or a .json file that looks like a tfjs model
 *   tfjsFiles(path)           model.json plus the shard files its manifest lists (for size reports)
 *
 * Stored weight quantization (tfjs-converter --quantize_uint8/uint16/float16):
 *   A loaded quantized weight is a Tensor of its logical dtype (float32, or
 *   int32) whose data is a lazy decode of the stored bytes, computed exactly as
 *   tfjs-core's decodeWeights does; Tensor.storage carries the stored
 *   quantization and bytes, and saveTfjs writes them back verbatim. A pass that
 *   calls Tensor.setData clears storage, so the weight is then written plain.
 *   getTfjsQuantization(tensor) → { quantization, storedBytes } | undefined
 *   setTfjsQuantization(tensor, {dtype:'uint8'|'uint16', min, scale} | {dtype:'float16'}, storedBytes)
 *     makes a float32 (or int32, affine only) tensor a stored-quantized weight;
 *     storedBytes holds little-endian uint8/uint16/float16 elements, value = q*scale + min.
 *   A tensor whose IR dtype is float16 is written as float32 with float16 storage.
 *
 * What model.json keys map to: format → Model.format, signature → Model.signature,
 * userDefinedMetadata → Model.userMetadata; everything else (modelTopology minus
 * the node list, versions, library functions, modelInitializer,
 * initializerSignature, trainingConfig, generatedBy, convertedBy, unknown
 * keys) is kept verbatim in Model.extra (TfjsModelExtra) and re-written.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Model } from '../../ir';
import { InputError, UnsupportedError } from '../../errors';
import { writeFileAtomic } from '../../util/atomic';
import { resolveInside } from '../../util/safe-path';
import { decodeGraphModel, encodeGraphModel } from './graph-model';
import { decodeLayersModel, encodeLayersModel } from './layers-model';
import { isObject, ModelJson, TfjsModelExtra, WeightsManifestEntry, WeightsManifestGroup } from './types';
import { SHARD_BYTES, encodeWeights, readWeights, splitShards, writeShards } from './weights';

export { getTfjsQuantization, setTfjsQuantization } from './quantization';
export type { TfjsQuantization, TfjsStorage } from './quantization';
export type { TfjsModelExtra, ModelJson, WeightsManifestEntry, WeightsManifestGroup, TfjsQuantizationJson } from './types';
export { decodeFloat16, dequantize } from './codec';
export { SHARD_BYTES } from './weights';

export const MODEL_JSON = 'model.json';

function modelJsonPath(p: string): string {
  return fs.existsSync(p) && fs.statSync(p).isDirectory() ? path.join(p, MODEL_JSON) : p;
}

function readModelJson(jsonPath: string): ModelJson {
  let text: string;
  try {
    text = fs.readFileSync(jsonPath, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read tfjs model: ${(e as Error).message}`, jsonPath);
  }
  const depth = nestingDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new InputError(`model.json nests ${depth} levels deep (more than ${MAX_JSON_DEPTH}); refusing it as corrupt`, jsonPath);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`model.json is not valid JSON: ${(e as Error).message}`, jsonPath);
  }
  if (!isObject(json) || !isObject(json.modelTopology)) throw new InputError('not a tfjs model.json: no modelTopology object', jsonPath);
  return json as ModelJson;
}

/**
 * Deepest nesting a model.json may have. Real ones stay under about 30 (a
 * functional model inside another); the readers and JSON.stringify recurse
 * per level, so a file nested 10^4 deep would overflow the stack.
 */
const MAX_JSON_DEPTH = 512;

/** Bracket depth of JSON text, scanned without recursion (strings skipped). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > max) max = depth; }
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function kindOf(json: ModelJson, jsonPath: string): 'graph' | 'layers' {
  if (json.format === 'graph-model') return 'graph';
  if (json.format === 'layers-model') return 'layers';
  const t = json.modelTopology!;
  if (Array.isArray(t.node)) return 'graph';
  if (typeof t.class_name === 'string' || isObject(t.model_config)) return 'layers';
  throw new InputError(`cannot tell graph-model from layers-model (format '${String(json.format)}')`, jsonPath);
}

/** Loads a tfjs model from model.json (or the folder holding it) and its weight shards. */
export function loadTfjs(p: string): Model {
  const jsonPath = modelJsonPath(p);
  const json = readModelJson(jsonPath);
  const weights = readWeights(path.dirname(jsonPath), json.weightsManifest, jsonPath);
  return kindOf(json, jsonPath) === 'graph' ? decodeGraphModel(json, weights, jsonPath) : decodeLayersModel(json, weights, jsonPath);
}

export interface SaveTfjsOptions {
  /** Largest shard file in bytes; tfjs-converter's 4 MiB by default. */
  shardBytes?: number;
}

function extraOf(model: Model): TfjsModelExtra {
  const e = model.extra;
  if (isObject(e) && e.kind === 'tfjs') return e as unknown as TfjsModelExtra;
  const json: ModelJson = model.format === 'tfjs-graph'
    ? { modelTopology: { node: [] }, format: 'graph-model', generatedBy: 'mc', convertedBy: 'mc' }
    : { modelTopology: {}, format: 'layers-model', generatedBy: 'mc', convertedBy: null };
  return { kind: 'tfjs', json, manifestOrder: [], looseWeights: [] };
}

/**
 * Writes `model` as model.json + shards into `outDir` (created if needed).
 * Shards are written first and model.json last, each atomically, so a reader
 * never sees a model.json whose shards are missing. Output is deterministic.
 */
export function saveTfjs(model: Model, outDir: string, options: SaveTfjsOptions = {}): void {
  const { json, entries, chunks } = encodeParts(model);
  fs.mkdirSync(outDir, { recursive: true });
  const jsonPath = path.join(outDir, MODEL_JSON);
  const stale = fs.existsSync(jsonPath) ? safeTfjsFiles(jsonPath) : [];
  const paths = entries.length ? writeShards(outDir, chunks, options.shardBytes ?? SHARD_BYTES) : [];
  const manifest: WeightsManifestGroup[] = entries.length ? [{ paths, weights: entries }] : [];
  json.weightsManifest = manifest;
  writeFileAtomic(jsonPath, JSON.stringify(json));
  // Remove shards of a model previously saved here that the new model.json no longer lists.
  const keep = new Set(paths.map((q) => path.resolve(outDir, q)));
  for (const f of stale) {
    if (!keep.has(f) && /^group\d+-shard\d+of\d+(\.bin)?$/.test(path.basename(f))) fs.rmSync(f, { force: true });
  }
}

/** model.json (without its weightsManifest), the manifest entries and the weight bytes, in manifest order. */
function encodeParts(model: Model): { json: ModelJson; entries: WeightsManifestEntry[]; chunks: Uint8Array[] } {
  if (model.format !== 'tfjs-graph' && model.format !== 'tfjs-layers') {
    throw new UnsupportedError(`saveTfjs writes tfjs models, not '${model.format}'`);
  }
  const extra = extraOf(model);
  const { json, weights } = model.format === 'tfjs-graph' ? encodeGraphModel(model, extra) : encodeLayersModel(model, extra);
  setOrDelete(json, 'signature', model.signature);
  setOrDelete(json, 'userDefinedMetadata', model.userMetadata);
  const { entries, chunks } = encodeWeights(weights);
  return { json, entries, chunks };
}

/** A tfjs model as the files saveTfjs writes, in memory: model.json's text and each shard, named as saved. */
export interface TfjsArtifacts {
  /** model.json as parsed (weightsManifest included). */
  json: ModelJson;
  /** model.json's exact text. */
  modelJson: string;
  shards: { path: string; bytes: Uint8Array }[];
}

/**
 * The bytes saveTfjs would write for `model`, without touching disk (in-memory
 * evaluation, sizes). Shards hold copies of the weight bytes.
 */
export function encodeTfjs(model: Model, options: SaveTfjsOptions = {}): TfjsArtifacts {
  const { json, entries, chunks } = encodeParts(model);
  const shards = entries.length ? splitShards(chunks, options.shardBytes ?? SHARD_BYTES) : [];
  json.weightsManifest = entries.length ? [{ paths: shards.map((s) => s.path), weights: entries }] : [];
  return { json, modelJson: JSON.stringify(json), shards };
}

function setOrDelete(json: ModelJson, key: 'signature' | 'userDefinedMetadata', value: unknown): void {
  if (value === undefined) delete json[key];
  else (json as Record<string, unknown>)[key] = value;
}

/** A folder holding model.json, or a .json file whose head looks like a tfjs model. */
export function isTfjsPath(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (st.isDirectory()) return fs.existsSync(path.join(p, MODEL_JSON));
    if (!p.toLowerCase().endsWith('.json')) return false;
    const fd = fs.openSync(p, 'r');
    try {
      const head = Buffer.alloc(4096);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      return /"(modelTopology|weightsManifest)"/.test(head.subarray(0, n).toString('utf8'));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** model.json and every shard its manifest lists, as absolute paths (shards must stay inside the folder). */
export function tfjsFiles(p: string): string[] {
  const jsonPath = path.resolve(modelJsonPath(p));
  const json = readModelJson(jsonPath);
  const dir = path.dirname(jsonPath);
  const files = [jsonPath];
  for (const g of json.weightsManifest ?? []) for (const q of g.paths ?? []) files.push(resolveInside(dir, q, jsonPath));
  return files;
}

function safeTfjsFiles(jsonPath: string): string[] {
  try {
    return tfjsFiles(jsonPath).slice(1);
  } catch {
    return [];
  }
}
