'use strict';
/**
 * .npz archives (zip, stored and deflated, with numpy's zip64 extras): openNpz,
 * then every batch read (src/data/zip.ts, array-source.ts). The archive is
 * written here field by field, so a structure-aware edit can set any size,
 * offset, name or method, and build bombs (a small deflate stream that
 * inflates to far more than the file, or a declared size no data backs).
 */
const path = require('path');
const zlib = require('zlib');
const { crc32, dist, HOSTILE_INTS } = require('./common');
const n = require('./npy-build');
const { readAll } = require('./npy');

/**
 * entries: { name, data, method (0|8), zip64?, size?, compressedSize?, offset?, flags? }
 * (size/compressedSize/offset override what the central directory declares).
 */
/** CRC and deflated bytes of large arrays (the bombs), computed once per worker. */
const packed = new WeakMap();
function pack(data) {
  if (data.length < 65536) return { crc: crc32(data), deflated: undefined, data };
  if (!packed.has(data)) packed.set(data, { crc: crc32(data), deflated: zlib.deflateRawSync(data), data });
  return packed.get(data);
}

function zip(entries, { count, cdOffset, cdSize, comment = '' } = {}) {
  const parts = [];
  const central = [];
  let at = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const p = pack(e.data);
    const body = e.method === 8 ? (p.deflated ?? zlib.deflateRawSync(e.data)) : Buffer.from(e.data);
    const extra = e.zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    const size = e.size ?? e.data.length;
    const csize = e.compressedSize ?? body.length;
    if (e.zip64) {
      extra.writeUInt16LE(1, 0); extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(size), 4); extra.writeBigUInt64LE(BigInt(csize), 12);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(e.method ?? 0, 8);
    local.writeUInt32LE(p.crc, 14);
    local.writeUInt32LE(e.zip64 ? 0xffffffff : csize >>> 0, 18); local.writeUInt32LE(e.zip64 ? 0xffffffff : size >>> 0, 22);
    local.writeUInt16LE(name.length, 26); local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, body);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0); cd.writeUInt16LE(e.flags ?? 0, 8); cd.writeUInt16LE(e.method ?? 0, 10);
    cd.writeUInt32LE(p.crc, 16);
    cd.writeUInt32LE(e.zip64 ? 0xffffffff : csize >>> 0, 20); cd.writeUInt32LE(e.zip64 ? 0xffffffff : size >>> 0, 24);
    cd.writeUInt16LE(name.length, 28); cd.writeUInt16LE(extra.length, 30);
    cd.writeUInt32LE((e.offset ?? at) >>> 0, 42);
    central.push(cd, name, extra);
    at += local.length + name.length + extra.length + body.length;
  }
  const cdBytes = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE((count ?? entries.length) & 0xffff, 8); eocd.writeUInt16LE((count ?? entries.length) & 0xffff, 10);
  eocd.writeUInt32LE((cdSize ?? cdBytes.length) >>> 0, 12); eocd.writeUInt32LE((cdOffset ?? at) >>> 0, 16);
  eocd.writeUInt16LE(Buffer.byteLength(comment), 20);
  return new Uint8Array(Buffer.concat([...parts, cdBytes, eocd, Buffer.from(comment)]));
}

const arrays = () => n.seedArrays();

function seeds() {
  const [f, i8] = arrays();
  const y = n.npy('<i8', [3], BigInt64Array.from([0n, 1n, 2n]));
  return [
    { main: 'x.npz', files: { 'x.npz': zip([{ name: 'x.npy', data: f, method: 0, zip64: true }, { name: 'y.npy', data: y, method: 0, zip64: true }]) } },
    { main: 'x.npz', files: { 'x.npz': zip([{ name: 'x.npy', data: f, method: 8 }, { name: 'y.npy', data: y, method: 8 }]) } },
    { main: 'x.npz', files: { 'x.npz': zip([{ name: 'a.npy', data: i8, method: 8, zip64: true }]) } },
  ];
}

let bombs;
/** Deflated zeros under a valid header: about 8 and 32 MiB inflated from about 8 and 32 KiB. */
function bomb(r) {
  bombs ??= [1 << 11, 1 << 13].map((rows) => n.npy('<f4', [rows, 1024], new Float32Array(rows * 1024)));
  return r.pick(bombs);
}

function structured(r, input) {
  const [f] = arrays();
  const e = { name: 'x.npy', data: f, method: r.pick([0, 8]), zip64: r.chance(0.5) };
  const more = [];
  const opts = {};
  switch (r.int(9)) {
    case 0: e.name = r.pick(['../x.npy', '../../../tmp/x.npy', '/etc/x.npy', 'a/../../x.npy', 'dir/', '.npy', 'x.npy\0.txt', 'x.txt', '..']); break;
    case 1: e.size = r.pick(HOSTILE_INTS.filter((x) => x >= 0)); e.zip64 = e.size > 0xfffffffe || e.zip64; break;
    case 2: e.compressedSize = r.pick(HOSTILE_INTS.filter((x) => x >= 0)); e.zip64 = e.compressedSize > 0xfffffffe || e.zip64; break;
    case 3: e.offset = r.pick([1, 4, 0x7fffffff, 0xfffffffe]); break;
    case 4: e.method = r.pick([1, 9, 12, 14, 99]); e.flags = r.pick([0, 1, 8, 0x800]); break;
    case 5: Object.assign(opts, r.pick([{ count: 0xffff }, { count: 1000 }, { cdOffset: 0xfffffff0 }, { cdSize: 0x7fffffff }, { count: 0 }, { comment: 'x'.repeat(r.int(200)) }])); break;
    case 6: e.data = bomb(r); e.method = 8; break; // real bomb: the data is all there
    case 7: e.data = n.npy('<f4', [r.pick([2 ** 20, 2 ** 26, 2 ** 31]), 1024], new Uint8Array(64)); e.method = 8; e.size = e.data.length + r.pick([0, 2 ** 32, 2 ** 40]); e.zip64 = true; break; // declared bomb
    default: e.data = n.hostileArray(r); more.push({ name: 'y.npy', data: n.npy('<f4', [2], new Float32Array(2)), method: 8 });
  }
  return { main: input.main, files: { [input.main]: zip([e, ...more], opts) } };
}

function run(dir, main) {
  const { openNpz } = dist('data/open-arrays');
  readAll(openNpz(path.join(dir, main)));
}

module.exports = { seeds, structured, run, zip };
