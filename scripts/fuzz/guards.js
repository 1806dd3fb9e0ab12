'use strict';
/**
 * What the worker watches while a case runs, installed before any mc module
 * is loaded (so module-level captures such as fflate's `u8 = Uint8Array` see
 * the wrapped constructors):
 *   - allocations: every typed array, ArrayBuffer and Buffer.alloc* made by
 *     JavaScript is counted (bytes asked for, summed per case, and the largest
 *     single one). Allocations made inside Node's C++ (zlib output buffers,
 *     fs.readFileSync) are not seen here; the worker also compares the
 *     process's peak RSS and its arrayBuffers total before and after each case.
 *   - writes: any fs call that creates, changes or removes a path outside the
 *     case's out/ folder is recorded (the parsers under test should write nothing).
 */
const fs = require('fs');
const path = require('path');

const alloc = { total: 0, largest: 0 };
const writes = [];
let allowedDir = null;

function count(bytes) {
  if (!(bytes > 0)) return;
  alloc.total += bytes;
  if (bytes > alloc.largest) alloc.largest = bytes;
}

function requestedBytes(args, bpe) {
  const a = args[0];
  if (typeof a === 'number') return a * bpe;
  if (a instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a instanceof SharedArrayBuffer)) return 0; // a view
  if (a && typeof a.length === 'number') return a.length * bpe;
  return 0;
}

function wrapCtor(name) {
  const Orig = globalThis[name];
  const bpe = Orig.BYTES_PER_ELEMENT ?? 1;
  const handler = {
    construct(target, args, newTarget) {
      count(requestedBytes(args, bpe));
      return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
    },
  };
  const proxy = new Proxy(Orig, handler);
  globalThis[name] = proxy;
}

function wrapStatic(obj, key, bytesOf) {
  const orig = obj[key];
  obj[key] = function (...args) {
    count(bytesOf(args));
    return orig.apply(this, args);
  };
}

function inside(p) {
  const full = path.resolve(String(p));
  return full === allowedDir || full.startsWith(allowedDir + path.sep);
}

function recordWrite(op, p) {
  if (allowedDir === null) return; // the fuzzer's own setup between cases
  if (p === undefined || typeof p === 'number') return; // fd-based writes are checked when the fd is opened
  if (!inside(p)) writes.push(`${op} ${String(p)}`);
}

function writeFlags(flags) {
  if (flags === undefined) return false;
  if (typeof flags === 'number') return (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND)) !== 0;
  return /[wa+]/.test(String(flags));
}

function install() {
  for (const n of ['Uint8Array', 'Int8Array', 'Uint8ClampedArray', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array',
    'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'ArrayBuffer']) wrapCtor(n);
  for (const k of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) wrapStatic(Buffer, k, (a) => (typeof a[0] === 'number' ? a[0] : 0));
  const pathOps = ['writeFileSync', 'appendFileSync', 'mkdirSync', 'rmSync', 'rmdirSync', 'unlinkSync', 'truncateSync', 'chmodSync',
    'utimesSync', 'mkdtempSync', 'writeFile', 'appendFile', 'mkdir', 'rm', 'unlink', 'createWriteStream'];
  for (const k of pathOps) {
    const orig = fs[k];
    fs[k] = function (p, ...rest) { recordWrite(k, p); return orig.call(this, p, ...rest); };
  }
  for (const k of ['renameSync', 'copyFileSync', 'symlinkSync', 'linkSync', 'cpSync']) {
    const orig = fs[k];
    fs[k] = function (a, b, ...rest) { recordWrite(k, b); if (k === 'renameSync') recordWrite(k, a); return orig.call(this, a, b, ...rest); };
  }
  const openSync = fs.openSync;
  fs.openSync = function (p, flags, ...rest) { if (writeFlags(flags)) recordWrite('openSync', p); return openSync.call(this, p, flags, ...rest); };
}

/** Starts watching one case: `outDir` is the only place writes are allowed. */
function begin(outDir) {
  alloc.total = 0;
  alloc.largest = 0;
  writes.length = 0;
  allowedDir = path.resolve(outDir);
}

function end() {
  allowedDir = null;
  return { allocTotal: alloc.total, allocLargest: alloc.largest, writes: [...writes] };
}

module.exports = { install, begin, end };
