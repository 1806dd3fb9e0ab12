import { InputError } from '../errors';
import { readAt } from './io';

/** One file in a zip archive, from its central directory record. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = STORED, 8 = DEFLATED (other methods are rejected when read). */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  /** Offset of the entry's local file header. */
  readonly localHeaderOffset: number;
  readonly encrypted: boolean;
}

// Record signatures and layouts from PKWARE's APPNOTE.TXT (6.3.x), sections 4.3.7-4.3.16.
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;

/**
 * Reads the central directory of a zip file through `fd`, without reading the
 * entries' data. Zip64 archives (numpy's savez always forces zip64 local
 * records, and uses zip64 directories for files over 4 GiB) are handled.
 */
export function readZipDirectory(fd: number, fileSize: number, file: string): ZipEntry[] {
  if (fileSize < EOCD_MIN) throw new InputError('not a zip/.npz file (too short)', file);
  const tailLen = Math.min(fileSize, EOCD_MIN + MAX_COMMENT);
  const tail = readAt(fd, tailLen, fileSize - tailLen, file);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - EOCD_MIN; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD) { eocd = i; break; }
  }
  if (eocd < 0) throw new InputError('not a zip/.npz file (no end of central directory record)', file);

  let entries = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = fileSize - tailLen + eocd - 20;
    const locator = loc >= 0 ? new DataView(readAt(fd, 20, loc, file).buffer) : undefined;
    if (!locator || locator.getUint32(0, true) !== SIG_EOCD64_LOCATOR) throw new InputError('corrupt zip64 archive (no zip64 locator)', file);
    const rec = new DataView(readAt(fd, 56, safeNumber(locator.getBigUint64(8, true), file), file).buffer);
    if (rec.getUint32(0, true) !== SIG_EOCD64) throw new InputError('corrupt zip64 archive (bad zip64 end record)', file);
    entries = safeNumber(rec.getBigUint64(32, true), file);
    cdSize = safeNumber(rec.getBigUint64(40, true), file);
    cdOffset = safeNumber(rec.getBigUint64(48, true), file);
  }
  if (cdOffset + cdSize > fileSize) throw new InputError('corrupt zip archive (central directory past end of file)', file);

  const cd = readAt(fd, cdSize, cdOffset, file);
  const v = new DataView(cd.buffer);
  const out: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < entries; k++) {
    if (p + 46 > cd.length || v.getUint32(p, true) !== SIG_CENTRAL) throw new InputError('corrupt zip archive (bad central directory record)', file);
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    let compressedSize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let localHeaderOffset = v.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new InputError('corrupt zip archive (central directory record runs past the directory)', file);
    const name = Buffer.from(cd.buffer, p + 46, nameLen).toString(flags & 0x800 ? 'utf8' : 'latin1');
    // Zip64 extended information (header id 0x0001) holds, in order, only the
    // fields whose 32-bit slot is 0xFFFFFFFF (APPNOTE 4.5.3).
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const u64 = (): number => {
          if (q + 8 > Math.min(e + 4 + len, extraEnd)) throw new InputError(`corrupt zip64 extra field for ${JSON.stringify(name)}`, file);
          const x = safeNumber(v.getBigUint64(q, true), file);
          q += 8;
          return x;
        };
        if (size === 0xffffffff) size = u64();
        if (compressedSize === 0xffffffff) compressedSize = u64();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64();
      }
      e += 4 + len;
    }
    out.push({ name, method, compressedSize, size, localHeaderOffset, encrypted: (flags & 1) === 1 });
    p = extraEnd + commentLen;
  }
  return out;
}

/** Offset of the entry's first data byte: after the local header, whose name/extra lengths may differ from the central record's. */
export function entryDataOffset(fd: number, entry: ZipEntry, fileSize: number, file: string): number {
  const hdr = new DataView(readAt(fd, 30, entry.localHeaderOffset, file).buffer);
  if (hdr.getUint32(0, true) !== SIG_LOCAL) throw new InputError(`corrupt zip archive (bad local header for ${entry.name})`, file);
  const start = entry.localHeaderOffset + 30 + hdr.getUint16(26, true) + hdr.getUint16(28, true);
  if (start + entry.compressedSize > fileSize) throw new InputError(`truncated zip archive (${entry.name} runs past end of file)`, file);
  return start;
}

function safeNumber(b: bigint, file: string): number {
  if (b > BigInt(Number.MAX_SAFE_INTEGER)) throw new InputError('corrupt zip64 archive (offset too large)', file);
  return Number(b);
}
