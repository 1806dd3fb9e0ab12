import * as fs from 'fs';
import { Inflate } from 'fflate';
import { InputError } from '../errors';
import { openForRead, readAt } from './io';
import { NPY_PREAMBLE_BYTES, NpyHeader, formatShape, npyHeaderLength, parseNpyHeader, sampleBytes } from './npy';
import { ZipEntry, entryDataOffset } from './zip';

/** Reads consecutive samples of one array, front to back. */
export interface RowReader {
  /** The next `rows` samples as a fresh, aligned buffer of rows × sampleBytes bytes. */
  read(rows: number): Uint8Array;
  close(): void;
}

/** One .npy array on disk (a file or an .npz entry): its header, and a way to stream its rows. */
export interface ArraySource {
  readonly header: NpyHeader;
  /** For messages: the file, or `archive.npz:entry.npy`. */
  readonly file: string;
  open(): RowReader;
}

/** A plain .npy file: each batch is one positioned read of exactly its byte range. */
export function npyFileSource(path: string): ArraySource {
  const fd = openForRead(path);
  let header: NpyHeader;
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 10) throw new InputError(size === 0 ? 'empty file, not an .npy array' : 'not an .npy file (too short)', path);
    const pre = readAt(fd, Math.min(NPY_PREAMBLE_BYTES, size), 0, path);
    const hlen = npyHeaderLength(pre, path);
    if (hlen > size) throw new InputError('truncated .npy header', path);
    header = parseNpyHeader(readAt(fd, hlen, 0, path), path);
    checkLength(header, size, path);
  } finally {
    fs.closeSync(fd);
  }
  return { header, file: path, open: () => positionedReader(path, header.dataOffset, sampleBytes(header)) };
}

/** An .npz entry: STORED entries are read like a plain .npy at an offset; DEFLATED ones are inflated as a stream. */
export function npzEntrySource(zipPath: string, fd: number, fileSize: number, entry: ZipEntry): ArraySource {
  const file = `${zipPath}:${entry.name}`;
  if (entry.encrypted) throw new InputError('encrypted zip entries are not supported', file);
  const start = entryDataOffset(fd, entry, fileSize, zipPath);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) throw new InputError('corrupt zip entry (stored sizes disagree)', file);
    const pre = readAt(fd, Math.min(NPY_PREAMBLE_BYTES, entry.size), start, file);
    const hlen = npyHeaderLength(pre, file);
    if (hlen > entry.size) throw new InputError('truncated .npy header', file);
    const header = parseNpyHeader(readAt(fd, hlen, start, file), file);
    checkLength(header, entry.size, file);
    return { header, file, open: () => positionedReader(zipPath, start + header.dataOffset, sampleBytes(header), file) };
  }
  if (entry.method === 8) {
    // Deflate cannot expand more than 1032:1 (RFC 1951 maximum run of 258 bytes per 2 bits): a larger declared size is a lie.
    if (entry.size > entry.compressedSize * 1032 + 1024) {
      throw new InputError(`corrupt zip entry (declares ${entry.size} bytes from ${entry.compressedSize} deflated bytes, more than deflate can produce)`, file);
    }
    const peek = new InflatingReader(zipPath, file, start, entry.compressedSize, 4096);
    let header: NpyHeader;
    try {
      const pre = peek.take(Math.min(NPY_PREAMBLE_BYTES, entry.size));
      const hlen = npyHeaderLength(pre, file);
      if (hlen > entry.size) throw new InputError('truncated .npy header', file);
      // A 1.0 header may be shorter than the 12 bytes peeked (a header length of 0 or 1).
      const rest = peek.take(Math.max(0, hlen - pre.length));
      const all = new Uint8Array(hlen);
      all.set(pre.subarray(0, hlen));
      all.set(rest, Math.min(pre.length, hlen));
      header = parseNpyHeader(all, file);
    } finally {
      peek.close();
    }
    checkLength(header, entry.size, file);
    const rowBytes = sampleBytes(header);
    return {
      header,
      file,
      open: () => {
        // Deflate expands at most ~1032:1, so feeding chunks of about
        // rowBytes/1032 compressed bytes (at least 4 KiB, at most 64 KiB)
        // keeps inflated-but-unread data near one sample's size.
        const chunk = Math.max(4096, Math.min(65536, Math.ceil(rowBytes / 1032)));
        const r = new InflatingReader(zipPath, file, start, entry.compressedSize, chunk);
        try {
          r.take(header.dataOffset);
        } catch (e) {
          r.close();
          throw e;
        }
        return { read: (rows) => r.take(rows * rowBytes), close: () => r.close() };
      },
    };
  }
  throw new InputError(`zip compression method ${entry.method} is not supported (only stored and deflated)`, file);
}

function checkLength(h: NpyHeader, available: number, file: string): void {
  const need = h.dataOffset + h.shape.reduce((a, b) => a * b, h.itemSize);
  if (available < need) {
    throw new InputError(`truncated data: header says ${formatShape(h.dtype, h.shape)} (${need - h.dataOffset} bytes) but only ${available - h.dataOffset} bytes follow`, file);
  }
}

function positionedReader(path: string, dataStart: number, rowBytes: number, label = path): RowReader {
  const fd = openForRead(path);
  let pos = dataStart;
  return {
    read(rows) {
      const b = readAt(fd, rows * rowBytes, pos, label);
      pos += b.length;
      return b;
    },
    close: () => fs.closeSync(fd),
  };
}

/**
 * Streams a raw DEFLATE range of a file through fflate's Inflate, holding only
 * the inflated bytes not yet taken plus one chunk's worth.
 */
class InflatingReader {
  private readonly fd: number;
  private readonly inflate: Inflate;
  private pos: number;
  private readonly end: number;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private finished = false;

  constructor(path: string, private readonly file: string, start: number, length: number, private readonly chunk: number) {
    this.fd = openForRead(path);
    this.pos = start;
    this.end = start + length;
    // fflate hands each callback a fresh slice, so keeping references is safe.
    this.inflate = new Inflate((data) => {
      if (data.length) { this.queue.push(data); this.queued += data.length; }
    });
  }

  /** Exactly `n` more inflated bytes, in a fresh buffer. */
  take(n: number): Uint8Array {
    while (this.queued < n) {
      if (this.finished || this.pos >= this.end) throw new InputError(`compressed data ends early (wanted ${n - this.queued} more bytes)`, this.file);
      const len = Math.min(this.chunk, this.end - this.pos);
      const comp = readAt(this.fd, len, this.pos, this.file);
      this.pos += len;
      const final = this.pos >= this.end;
      try {
        this.inflate.push(comp, final);
      } catch (e) {
        throw new InputError(`corrupt deflate data (${(e as Error).message})`, this.file);
      }
      if (final) this.finished = true;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.queue[0];
      const use = Math.min(head.length, n - filled);
      out.set(head.subarray(0, use), filled);
      filled += use;
      if (use === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(use);
    }
    this.queued -= n;
    return out;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
