import { InputError } from '../errors';
import type { DataDType } from './types';

/**
 * The .npy header, per numpy's format spec (numpy/lib/format.py, "NPY format"):
 *   magic "\x93NUMPY", major, minor, header length (uint16 LE for 1.0,
 *   uint32 LE for 2.0 and 3.0), then a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 *   padded with spaces and '\n' so the data starts 64-byte aligned.
 * Version 3.0 only differs in that the header is UTF-8 rather than latin-1.
 */
export interface NpyHeader {
  readonly dtype: DataDType;
  readonly shape: number[];
  /** Offset of the first data byte from the start of the .npy stream. */
  readonly dataOffset: number;
  /** Bytes per element. */
  readonly itemSize: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The least number of leading bytes needed to know the full header length. */
export const NPY_PREAMBLE_BYTES = 12;

/** numpy type strings (without byte-order char) we read, with their element sizes. */
const DESCR: Readonly<Record<string, readonly [DataDType, number]>> = {
  f2: ['float16', 2], f4: ['float32', 4], f8: ['float64', 8],
  i1: ['int8', 1], i2: ['int16', 2], i4: ['int32', 4], i8: ['int64', 8],
  u1: ['uint8', 1], u2: ['uint16', 2], u4: ['uint32', 4], u8: ['uint64', 8],
  b1: ['bool', 1],
};

/**
 * Total header length (preamble + dict) from the first bytes of the stream,
 * or throws if they are not an .npy preamble.
 */
export function npyHeaderLength(pre: Uint8Array, file: string): number {
  if (pre.length < 10 || MAGIC.some((b, i) => pre[i] !== b)) throw new InputError('not an .npy file (bad magic)', file);
  const major = pre[6];
  const dv = new DataView(pre.buffer, pre.byteOffset, pre.byteLength);
  if (major === 1) return 10 + dv.getUint16(8, true);
  if (major === 2 || major === 3) {
    if (pre.length < 12) throw new InputError('not an .npy file (header cut short)', file);
    return 12 + dv.getUint32(8, true);
  }
  throw new InputError(`unsupported .npy version ${major}.${pre[7]} (1.0, 2.0 and 3.0 are read)`, file);
}

/** Parses the whole header (`bytes` must hold at least npyHeaderLength bytes). */
export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  const total = npyHeaderLength(bytes, file);
  if (bytes.length < total) throw new InputError('truncated .npy header', file);
  const start = bytes[6] === 1 ? 10 : 12;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, total - start).toString(bytes[6] === 3 ? 'utf8' : 'latin1');

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shapeM) {
    if (/'descr'\s*:\s*\[/.test(text)) throw new InputError('structured (record) arrays are not supported; save one plain array per input', file);
    throw new InputError(`corrupt .npy header: ${JSON.stringify(text.trim().slice(0, 80))}`, file);
  }
  if (fortran[1] === 'True') throw new InputError("fortran_order arrays are not supported; save with np.ascontiguousarray(x)", file);

  const order = descr[1][0];
  const code = descr[1].slice(1);
  const known = DESCR[code];
  if (!known || !'<|='.includes(order) || (order === '|' && known[1] !== 1)) {
    if (order === '>' && known) throw new InputError(`big-endian data (${descr[1]}) is not supported; save with x.astype(x.dtype.newbyteorder('<'))`, file);
    throw new InputError(`unsupported .npy dtype '${printable(descr[1].slice(0, 40))}' (float16/32/64, int8/16/32/64, uint8/16/32/64 and bool are read)`, file);
  }

  const shape: number[] = [];
  for (const part of shapeM[1].split(',')) {
    const s = part.trim().replace(/L$/, ''); // Python 2 writers append L to longs
    if (s === '') continue;
    if (!/^\d+$/.test(s)) throw new InputError(`corrupt .npy header: bad shape (${printable(shapeM[1].slice(0, 80))})`, file);
    shape.push(Number(s));
  }
  return { dtype: known[0], shape, dataOffset: total, itemSize: known[1] };
}

/** Header text for a one-line message: control characters (a newline in a corrupt header) written as \xNN. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Bytes per sample (product of the non-leading dims times the element size). */
export function sampleBytes(h: NpyHeader): number {
  let n = h.itemSize;
  for (let i = 1; i < h.shape.length; i++) n *= h.shape[i];
  return n;
}

export function formatShape(dtype: string, shape: readonly (number | string | null)[]): string {
  return `${dtype}[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}
