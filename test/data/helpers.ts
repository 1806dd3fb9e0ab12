import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { Deflate } from 'fflate';

export const FILES = path.join(__dirname, 'files');
export { ORACLE_PYTHON as PYTHON } from '../helpers/require-dep';

export function tmpDir(prefix = 'mc-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Expected {
  dtype: string;
  shape: number[];
  /** Numbers, or decimal strings for int64 (exact beyond 2^53). */
  values: (number | string)[];
}

export function readExpected(dir: string): Record<string, Expected> & { npz: Record<string, Expected> } {
  return JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));
}

/** A version 1.0 .npy header for a C-order little-endian array, padded to 64 bytes as numpy does. */
export function npyHeader(descr: string, shape: number[]): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const text = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const out = Buffer.alloc(total);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  out.writeUInt16LE(text.length, 8);
  out.write(text, 10, 'latin1');
  return out;
}

/**
 * Writes an .npz with one DEFLATED entry streamed through fflate, never
 * holding the whole array: `row(i, buf)` fills sample i into a reused buffer.
 */
export function writeDeflatedNpz(file: string, name: string, descr: string, shape: number[], rowBytes: number, row: (i: number, buf: Buffer) => void): void {
  const fd = fs.openSync(file, 'w');
  const entryName = Buffer.from(`${name}.npy`);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt16LE(entryName.length, 26);
  fs.writeSync(fd, local);
  fs.writeSync(fd, entryName);
  let crc = 0;
  let csize = 0;
  let usize = 0;
  const deflate = new Deflate({ level: 1 }, (chunk) => { fs.writeSync(fd, chunk); csize += chunk.length; });
  const push = (b: Uint8Array, final = false): void => { crc = zlib.crc32(b, crc); usize += b.length; deflate.push(b, final); };
  push(npyHeader(descr, shape));
  const buf = Buffer.alloc(rowBytes);
  for (let i = 0; i < shape[0]; i++) {
    buf.fill(0);
    row(i, buf);
    push(buf);
  }
  push(new Uint8Array(0), true);
  const sizes = Buffer.alloc(12);
  sizes.writeUInt32LE(crc >>> 0, 0);
  sizes.writeUInt32LE(csize, 4);
  sizes.writeUInt32LE(usize, 8);
  fs.writeSync(fd, sizes, 0, 12, 14);
  const cdOffset = 30 + entryName.length + csize;
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  sizes.copy(central, 16);
  central.writeUInt16LE(entryName.length, 28);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(46 + entryName.length, 12);
  eocd.writeUInt32LE(cdOffset, 16);
  fs.writeSync(fd, central); // sequential: positioned writes above leave the file position at cdOffset
  fs.writeSync(fd, entryName);
  fs.writeSync(fd, eocd);
  fs.closeSync(fd);
}
