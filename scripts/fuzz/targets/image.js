'use strict';
/**
 * PNG and JPEG decoding (src/data/images.ts decodeImage, over pngjs and jpeg-js).
 * Structure-aware edits rewrite header fields (PNG IHDR with its CRC fixed,
 * JPEG SOF dimensions and segment lengths), so they get past the checksums.
 */
const path = require('path');
const zlib = require('zlib');
const { crc32, dist } = require('./common');

function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A PNG written by hand: IHDR fields as given, IDAT from `raw` (filtered scanlines). */
function png(w, h, { depth = 8, color = 6, interlace = 0, raw, idat } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w >>> 0, 0); ihdr.writeUInt32BE(h >>> 0, 4);
  ihdr[8] = depth; ihdr[9] = color; ihdr[12] = interlace;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[color] ?? 4;
  const rowBytes = Math.ceil((w * channels * depth) / 8) + 1;
  const data = idat ?? zlib.deflateSync(raw ?? Buffer.alloc(Math.min(rowBytes * h, 1 << 20)));
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr)];
  if (color === 3) parts.push(pngChunk('PLTE', Buffer.from([0, 0, 0, 255, 255, 255])));
  parts.push(pngChunk('IDAT', data), pngChunk('IEND', Buffer.alloc(0)));
  return new Uint8Array(Buffer.concat(parts));
}

let jpegSeeds;
function jpegs() {
  if (!jpegSeeds) {
    const jpeg = require('jpeg-js');
    const img = (w, h) => ({ width: w, height: h, data: Buffer.from(Array.from({ length: w * h * 4 }, (_, i) => (i * 37) & 255)) });
    jpegSeeds = [new Uint8Array(jpeg.encode(img(9, 7), 50).data), new Uint8Array(jpeg.encode(img(16, 16), 90).data)];
  }
  return jpegSeeds;
}

function seeds() {
  return [
    png(5, 4), png(7, 3, { color: 0 }), png(4, 4, { color: 3, depth: 1 }), png(3, 3, { color: 2, depth: 16 }), png(6, 5, { interlace: 1 }),
    ...jpegs(),
  ].map((b) => ({ main: b[0] === 0xff ? 'img.jpg' : 'img.png', files: { [b[0] === 0xff ? 'img.jpg' : 'img.png']: b } }));
}

const DIMS = [0, 1, 65535, 30000, 2 ** 16 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];

function structured(r, input) {
  const main = r.chance(0.5) ? 'img.png' : 'img.jpg';
  if (main === 'img.png') {
    const w = r.chance(0.7) ? r.pick(DIMS) : 1 + r.int(8);
    const h = r.chance(0.7) ? r.pick(DIMS) : 1 + r.int(8);
    const opt = { depth: r.pick([1, 2, 4, 8, 16, 3, 0, 32]), color: r.pick([0, 2, 3, 4, 6, 1, 7]), interlace: r.pick([0, 1, 2]) };
    if (r.chance(0.3)) opt.idat = zlib.deflateSync(Buffer.alloc(r.pick([0, 10, 4096, 1 << 20]))); // too little or too much data
    return { main, files: { [main]: png(w, h, opt) } };
  }
  const b = Buffer.from(r.pick(jpegs()));
  // Walk the markers; rewrite a SOF's size or some segment's length field.
  const segs = [];
  for (let i = 2; i + 4 <= b.length && b[i] === 0xff && b[i + 1] !== 0xda;) {
    const len = b.readUInt16BE(i + 2);
    segs.push({ at: i, marker: b[i + 1] });
    i += 2 + len;
  }
  const sof = segs.find((s) => s.marker === 0xc0);
  if (sof && r.chance(0.6)) {
    b.writeUInt16BE(r.pick(DIMS) & 0xffff, sof.at + 5);
    b.writeUInt16BE(r.pick(DIMS) & 0xffff, sof.at + 7);
    if (r.chance(0.3)) b[sof.at + 9] = r.pick([0, 1, 2, 4, 255]); // component count
  } else if (segs.length) {
    b.writeUInt16BE(r.pick([0, 1, 2, 0xffff, 0x7fff]), r.pick(segs).at + 2);
  }
  return { main, files: { [main]: new Uint8Array(b) } };
}

function run(dir, main) {
  const { decodeImage } = dist('data/images');
  const img = decodeImage(path.join(dir, main));
  if (img.data.length !== img.width * img.height * 4) throw new Error(`decoded ${img.data.length} bytes for ${img.width}x${img.height} RGBA`);
}

module.exports = { seeds, structured, run, png };
