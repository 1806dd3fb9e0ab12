import * as fs from 'fs';
import * as zlib from 'zlib';
import { Writable } from 'stream';
import { pipeline } from 'stream/promises';

/** Bytes on disk of `files`, summed. */
export function totalBytes(files: readonly string[]): number {
  return files.reduce((s, f) => s + fs.statSync(f).size, 0);
}

/**
 * gzip size of one file: zlib level 9 (what a download of the file costs),
 * streamed so a large external data file is never held in memory.
 */
export async function gzipBytes(file: string): Promise<number> {
  let n = 0;
  const counter = new Writable({
    write(chunk: Buffer, _enc, done) {
      n += chunk.length;
      done();
    },
  });
  await pipeline(fs.createReadStream(file), zlib.createGzip({ level: 9 }), counter);
  return n;
}

export interface FileSizes {
  bytes: number;
  /** Only when asked for: gzip at level 9 costs time on large weights. */
  gzipBytes?: number;
}

/** Raw (and optionally gzip) bytes of a model's files; each file is compressed on its own, as a server would serve them. */
export async function filesSize(files: readonly string[], opts: { gzip: boolean }): Promise<FileSizes> {
  if (!opts.gzip) return { bytes: totalBytes(files) };
  let gz = 0;
  for (const f of files) gz += await gzipBytes(f);
  return { bytes: totalBytes(files), gzipBytes: gz };
}
