'use strict';
/**
 * Byte-level mutations (format-blind): bit flips, byte insertions and
 * deletions, truncation, range duplication, and "length field" writes that put
 * 0, 2^31, 2^32-1 or 2^63 as a 2-, 4- or 8-byte integer (either byte order) or
 * as a protobuf varint at a random offset.
 */

/** Integers a length or count field is most likely to mishandle. */
const INTERESTING = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

function varint(v) {
  const out = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return Uint8Array.from(out);
}

function intBytes(v, width, bigEndian) {
  const out = new Uint8Array(width);
  let x = BigInt.asUintN(width * 8, v);
  for (let i = 0; i < width; i++) {
    out[bigEndian ? width - 1 - i : i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function concat(parts) {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** One random byte-level mutation of `b` (a new array; `b` is not changed). */
function mutateBytes(r, b) {
  const n = b.length;
  const pos = () => r.int(n + 1);
  switch (r.int(9)) {
    case 0: { // bit flips
      const out = b.slice();
      for (let k = 1 + r.small(8); k > 0 && n; k--) out[r.int(n)] ^= 1 << r.int(8);
      return out;
    }
    case 1: { // random or extreme bytes
      const out = b.slice();
      for (let k = 1 + r.small(4); k > 0 && n; k--) out[r.int(n)] = r.pick([0, 0xff, 0x7f, 0x80, r.int(256)]);
      return out;
    }
    case 2: { // insert random bytes
      const at = pos();
      const ins = Uint8Array.from({ length: 1 + r.small(64) }, () => r.int(256));
      return concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
    case 3: { // delete a range
      const at = pos();
      return concat([b.subarray(0, at), b.subarray(Math.min(n, at + 1 + r.small(n)))]);
    }
    case 4: // truncate
      return b.slice(0, r.int(n + 1));
    case 5: { // duplicate a range
      const at = r.int(n + 1);
      const len = r.small(Math.max(1, n - at));
      return concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
    }
    case 6: case 7: { // a fixed-width "length field"
      if (n === 0) return b.slice();
      const width = r.pick([2, 4, 4, 8]);
      const at = r.int(Math.max(1, n - width + 1));
      const v = intBytes(r.pick(INTERESTING), width, r.chance(0.3)).subarray(0, n - at);
      const out = b.slice();
      out.set(v, at);
      return out;
    }
    default: { // a varint "length field" (protobuf lengths, dims)
      const at = r.int(n + 1);
      // Skip the old varint at `at` (continuation bytes then the last one).
      let end = at;
      while (end < n && b[end] & 0x80) end++;
      if (end < n) end++;
      return concat([b.subarray(0, at), varint(r.pick(INTERESTING)), b.subarray(end)]);
    }
  }
}

module.exports = { mutateBytes, varint, intBytes, concat, INTERESTING };
