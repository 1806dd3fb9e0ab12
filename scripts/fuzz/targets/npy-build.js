'use strict';
/** .npy bytes (format versions 1.0, 2.0, 3.0) and structure-aware header edits. */
const { HOSTILE_INTS } = require('./common');

function npy(descr, shape, data, { version = 1, fortran = false, rawHeader } = {}) {
  const dict = rawHeader ?? `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  let text = dict;
  while ((pre + text.length + 1) % 64) text += ' ';
  text += '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(text.length, 8);
  else head.writeUInt32LE(text.length, 8);
  return new Uint8Array(Buffer.concat([head, Buffer.from(text, version === 3 ? 'utf8' : 'latin1'), Buffer.from(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength ?? data.length)]));
}

function seedArrays() {
  return [
    npy('<f4', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6])),
    npy('<i8', [2], BigInt64Array.from([1n, -1n]), { version: 2 }),
    npy('<f2', [2, 2], Uint16Array.from([0x3c00, 0x4000, 0, 0x8000])),
    npy('|u1', [4, 1, 1], Uint8Array.from([1, 2, 3, 4]), { version: 3 }),
    npy('|b1', [2, 3], Uint8Array.from([0, 1, 1, 0, 0, 1])),
  ];
}

const DESCRS = ['<f4', '>f4', '|f4', '<f8', '<f2', '<i2', '|i1', '<u8', '<c8', '<U5', '|O', '<f16', 'f4', '<V8', '<M8[s]', "<f4', 'x': '", ''];

/** A header with hostile fields, over data that may or may not fit it. */
function hostileArray(r) {
  const shape = Array.from({ length: r.int(4) }, () => r.pick([...HOSTILE_INTS.filter((x) => x >= 0), 3, 65536, 2 ** 40]));
  const data = new Uint8Array(r.pick([0, 7, 24, 64]));
  const opts = { version: r.pick([1, 2, 3]), fortran: r.chance(0.1) };
  switch (r.int(6)) {
    case 0: return npy(r.pick(DESCRS), [2, 3], data, opts);
    case 1: return npy('<f4', shape, data, opts);
    case 2: return npy('<f4', [], data, { ...opts, rawHeader: r.pick(["{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }", "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "{'shape': (2,), }", '{', '', "{'descr': '<f4', 'fortran_order': False, 'shape': (" + '9'.repeat(400) + ',), }', "{'descr': '<f4', 'fortran_order': False, 'shape': (" + '1, '.repeat(5000) + '), }']) });
    case 3: { // header length field: 0, 2^16-1, 2^31, 2^32-1
      const b = npy('<f4', [2], new Uint8Array(8), opts);
      const dv = new DataView(b.buffer);
      const v = r.pick([0, 1, 0xffff, 2 ** 31, 2 ** 32 - 1]);
      if (b[6] === 1) dv.setUint16(8, v & 0xffff, true); else dv.setUint32(8, v >>> 0, true);
      return b;
    }
    case 4: { // data shorter or longer than the shape says
      const n = r.pick([0, 1, 5, 6, 100]);
      return npy('<f4', [2, 3], new Uint8Array(n * 4), opts);
    }
    default: break;
  }
  return npy('<f4', [r.pick([0, 1]), r.pick([0, 2 ** 31, 2 ** 53])], data, opts);
}

module.exports = { npy, seedArrays, hostileArray };
