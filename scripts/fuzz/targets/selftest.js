'use strict';
/**
 * The fuzzer's own check (npm run fuzz -- --self-test): parsers that misbehave
 * on purpose, one way per seed input, each of which the guards must flag.
 * seeds()[k].main names the failure kind expected.
 */
const fs = require('fs');
const path = require('path');
const { dist } = require('./common');

const KINDS = ['memory', 'memory', 'slow', 'write', 'untyped', 'ok'];

function seeds() {
  return KINDS.map((kind, k) => ({ main: `${kind}-${k}`, files: { [`${kind}-${k}`]: new Uint8Array(16) } }));
}

function run(dir, main) {
  const { InputError } = dist('errors');
  switch (main) {
    case 'memory-0': { const b = new Uint8Array(2 ** 30); void b; throw new InputError('allocated 1 GiB, then refused the header', main); }
    case 'memory-1': { const b = Buffer.alloc(2 ** 30); void b; throw new InputError('allocated 1 GiB, then refused the header', main); }
    case 'slow-2': { const t = process.cpuUsage(); while ((process.cpuUsage(t).user + process.cpuUsage(t).system) < 2.2e6); return; }
    case 'write-3': fs.writeFileSync(path.join(dir, '..', 'escaped.txt'), 'x'); return;
    case 'untyped-4': throw new TypeError('a raw TypeError');
    default: throw new InputError('a clean typed refusal', main);
  }
}

module.exports = { seeds, run, KINDS };
