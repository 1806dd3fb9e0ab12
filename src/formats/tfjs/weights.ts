/**
 * Weight manifests and shard files.
 *
 * Layout (tfjs-core io/weights_loader.ts, tfjs-converter write_weights.py):
 * the shards of one group, concatenated in `paths` order, hold the group's
 * weights back to back in manifest order; a weight may span shard files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, elementCount } from '../../ir';
import { InputError, UnsupportedError } from '../../errors';
import { resolveInside } from '../../util/safe-path';
import { writeAll, writeFileAtomicWith } from '../../util/atomic';
import { QUANT_BYTES, STRING_LENGTH_BYTES, decodeStrings, encodeStrings } from './codec';
import { attachStorage, isTfjsStorage } from './quantization';
import type { WeightsManifestEntry, WeightsManifestGroup } from './types';

/** tfjs-converter's default shard size (write_weights.py: 4 * 1024 * 1024). */
export const SHARD_BYTES = 4 * 1024 * 1024;

const PLAIN_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1 };

export interface DecodedWeight {
  entry: WeightsManifestEntry;
  tensor: Tensor;
}

/** The shards of one group seen as one byte range; slices inside one shard are zero-copy views. */
class ShardSpan {
  private readonly starts: number[] = [];
  readonly total: number;

  constructor(private readonly shards: Uint8Array[], readonly names: string[]) {
    let off = 0;
    for (const s of shards) {
      this.starts.push(off);
      off += s.byteLength;
    }
    this.total = off;
  }

  /** The shard holding byte `pos` (for error messages). */
  shardAt(pos: number): string {
    for (let i = this.starts.length - 1; i >= 0; i--) if (pos >= this.starts[i]) return this.names[i];
    return this.names[0];
  }

  slice(start: number, end: number): Uint8Array {
    let i = this.starts.length - 1;
    while (i > 0 && this.starts[i] > start) i--;
    const local = start - this.starts[i];
    if (end - this.starts[i] <= this.shards[i].byteLength) return this.shards[i].subarray(local, end - this.starts[i]);
    // The weight spans shard files: copy just this weight's bytes.
    const out = new Uint8Array(end - start);
    let at = 0;
    for (let j = i; at < out.byteLength; j++) {
      const from = j === i ? local : 0;
      const part = this.shards[j].subarray(from, Math.min(this.shards[j].byteLength, from + out.byteLength - at));
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }
}

function readShard(dir: string, rel: string, jsonPath: string): Uint8Array {
  const full = resolveInside(dir, rel, jsonPath);
  try {
    return fs.readFileSync(full);
  } catch (e) {
    throw new InputError(`cannot read weight shard '${rel}' listed in ${path.basename(jsonPath)}: ${(e as Error).message}`, full);
  }
}

function checkEntry(entry: unknown, jsonPath: string): asserts entry is WeightsManifestEntry {
  const e = entry as WeightsManifestEntry;
  const ok = typeof e === 'object' && e !== null && typeof e.name === 'string' && Array.isArray(e.shape)
    && e.shape.every((d) => Number.isInteger(d) && d >= 0) && (typeof e.dtype === 'string' || typeof e.quantization?.original_dtype === 'string');
  if (!ok) throw new InputError(`malformed weightsManifest entry ${JSON.stringify(entry)?.slice(0, 120)}`, jsonPath);
}

/** Reads every weight of `manifest`, in manifest order. Shard paths must stay inside `dir`. */
export function readWeights(dir: string, manifest: unknown, jsonPath: string): DecodedWeight[] {
  if (manifest === undefined) return [];
  if (!Array.isArray(manifest)) throw new InputError('weightsManifest is not an array', jsonPath);
  const out: DecodedWeight[] = [];
  for (const group of manifest as WeightsManifestGroup[]) {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights) || !group.paths.every((p) => typeof p === 'string')) {
      throw new InputError('weightsManifest group needs string paths[] and weights[]', jsonPath);
    }
    const span = new ShardSpan(group.paths.map((p) => readShard(dir, p, jsonPath)), group.paths);
    let off = 0;
    for (const entry of group.weights) {
      checkEntry(entry, jsonPath);
      const len = weightByteLength(entry, span, off, jsonPath);
      if (off + len > span.total) {
        const shard = group.paths[group.paths.length - 1] ?? '(no shard)';
        throw new InputError(`weight shard '${shard}' is short: weight '${entry.name}' needs bytes up to ${off + len}, its group has ${span.total}`, path.join(dir, shard));
      }
      out.push({ entry, tensor: decodeWeight(entry, span.slice(off, off + len), jsonPath) });
      off += len;
    }
  }
  return out;
}

function weightByteLength(entry: WeightsManifestEntry, span: ShardSpan, off: number, jsonPath: string): number {
  const count = elementCount(entry.shape);
  const q = entry.quantization;
  if (q) {
    const per = QUANT_BYTES[q.dtype];
    if (per === undefined) throw new UnsupportedError(`${jsonPath}: weight '${entry.name}' has unknown quantization dtype '${q.dtype}'`);
    return count * per;
  }
  if (entry.dtype === 'string') {
    let len = 0;
    for (let i = 0; i < count; i++) {
      if (off + len + STRING_LENGTH_BYTES > span.total) return len + STRING_LENGTH_BYTES;
      const b = span.slice(off + len, off + len + STRING_LENGTH_BYTES);
      len += STRING_LENGTH_BYTES + new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
    }
    return len;
  }
  const per = PLAIN_BYTES[entry.dtype];
  if (per === undefined) throw new UnsupportedError(`${jsonPath}: weight '${entry.name}' has unsupported dtype '${entry.dtype}'`);
  return count * per;
}

function decodeWeight(entry: WeightsManifestEntry, bytes: Uint8Array, jsonPath: string): Tensor {
  const shape = [...entry.shape];
  const q = entry.quantization;
  if (q) {
    const logical = entry.dtype ?? q.original_dtype;
    if (q.dtype !== 'float16' && (typeof q.min !== 'number' || typeof q.scale !== 'number')) {
      throw new InputError(`weight '${entry.name}' is ${q.dtype}-quantized but lacks numeric min and scale`, jsonPath);
    }
    if (logical !== 'float32' && !(logical === 'int32' && q.dtype !== 'float16')) {
      throw new UnsupportedError(`${jsonPath}: weight '${entry.name}' is ${logical} stored as ${q.dtype}, which tfjs cannot decode`);
    }
    const t = Tensor.fromBytes(logical, shape, new Uint8Array(0), entry.name);
    attachStorage(t, logical, q, bytes);
    return t;
  }
  if (entry.dtype === 'string') {
    const s = decodeStrings(bytes, elementCount(shape));
    if (!s) throw new InputError(`string weight '${entry.name}' is truncated`, jsonPath);
    return Tensor.fromStrings(shape, s.values, entry.name);
  }
  return Tensor.fromBytes(entry.dtype as 'float32' | 'int32' | 'bool', shape, bytes, entry.name);
}

/** One weight to write: its manifest name and tensor. */
export interface WeightToWrite {
  name: string;
  tensor: Tensor;
}

/** Manifest entries plus the byte chunks (in order) that make up the group. */
export function encodeWeights(weights: readonly WeightToWrite[]): { entries: WeightsManifestEntry[]; chunks: Uint8Array[] } {
  const entries: WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const { name, tensor } of weights) {
    const shape = [...tensor.shape];
    const s = tensor.storage;
    if (isTfjsStorage(s)) {
      entries.push({ name, shape, dtype: tensor.dtype, quantization: s.quantization });
      chunks.push(s.stored);
      continue;
    }
    switch (tensor.dtype) {
      case 'float32': case 'int32': case 'bool':
        tensor.validate();
        entries.push({ name, shape, dtype: tensor.dtype });
        chunks.push(tensor.bytes());
        break;
      case 'string':
        entries.push({ name, shape, dtype: 'string' });
        chunks.push(...encodeStrings(tensor.strings()));
        break;
      case 'float16':
        // tfjs has no float16 tensors, but reads float16 storage of float32 weights.
        tensor.validate();
        entries.push({ name, shape, dtype: 'float32', quantization: { dtype: 'float16' } });
        chunks.push(tensor.bytes());
        break;
      default:
        throw new UnsupportedError(`tfjs weights cannot hold ${tensor.dtype} (weight '${name}'); tfjs supports float32, int32, bool and string`);
    }
  }
  return { entries, chunks };
}

/** tfjs-converter's shard file name: group1-shard1of3.bin. */
export function shardName(group: number, index: number, count: number): string {
  return `group${group}-shard${index + 1}of${count}.bin`;
}

/**
 * Writes the chunks as shards of at most `shardBytes` each (a weight may span
 * shards, as tfjs-converter does), each file atomically. Returns the paths.
 */
/** The shards writeShards would write, in memory: the same names and the same bytes. */
export function splitShards(chunks: readonly Uint8Array[], shardBytes = SHARD_BYTES): { path: string; bytes: Uint8Array }[] {
  const total = chunks.reduce((s, c) => s + c.byteLength, 0);
  const count = Math.max(1, Math.ceil(total / shardBytes));
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.byteLength; }
  return Array.from({ length: count }, (_, k) => ({ path: shardName(1, k, count), bytes: all.subarray(k * shardBytes, Math.min(total, (k + 1) * shardBytes)) }));
}

export function writeShards(outDir: string, chunks: readonly Uint8Array[], shardBytes = SHARD_BYTES): string[] {
  const total = chunks.reduce((s, c) => s + c.byteLength, 0);
  const count = Math.max(1, Math.ceil(total / shardBytes));
  const names: string[] = [];
  let ci = 0;
  let co = 0;
  for (let k = 0; k < count; k++) {
    const name = shardName(1, k, count);
    names.push(name);
    const size = Math.min(shardBytes, total - k * shardBytes);
    writeFileAtomicWith(path.join(outDir, name), (fd) => {
      let left = size;
      while (left > 0) {
        const c = chunks[ci];
        const part = c.subarray(co, co + Math.min(left, c.byteLength - co));
        writeAll(fd, part);
        left -= part.byteLength;
        co += part.byteLength;
        if (co >= c.byteLength) {
          ci++;
          co = 0;
        }
      }
    });
  }
  return names;
}
