'use strict';
/** Pieces shared by the targets: dist modules, hostile values, and what "a valid result" means. */
const path = require('path');

const DIST = path.join(__dirname, '..', '..', '..', 'dist');
const dist = (m) => require(path.join(DIST, m));

/** Values that break length, offset and dimension arithmetic. */
const HOSTILE_INTS = [0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53 - 1, 2 ** 53 + 2, 1e15, Number.MAX_SAFE_INTEGER];
/** Paths a model may name to get out of its folder. */
const HOSTILE_PATHS = ['../outside.bin', '../../etc/passwd', '/etc/passwd', 'sub/../../x.bin', 'C:\\Windows\\win.ini', 'a\0b', '', '.', 'sub', 'missing.bin', 'link/passwd', '..', 'data.bin/..'];

/**
 * A decoded model is usable: every numeric tensor's bytes agree with its
 * dtype and shape (Tensor.validate) and can be read (lazy external data loads).
 * This is what any pass does first, so a model that fails here would crash later.
 */
function checkModel(model) {
  const { modelTensors } = dist('formats/onnx/codec');
  for (const t of modelTensors(model)) {
    if (t.dtype === 'string') { t.strings(); continue; }
    t.validate();
    if (t.dtype !== 'undefined') t.bytes();
  }
}

function u8(s) {
  return new Uint8Array(Buffer.from(s));
}

/** CRC-32 (zip, PNG): what hand-built archives and chunks need to get past their checksums. */
function crc32(b) {
  let c = ~0;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

module.exports = { dist, HOSTILE_INTS, HOSTILE_PATHS, checkModel, u8, crc32 };
