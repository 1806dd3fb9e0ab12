#!/usr/bin/env node
'use strict';
/**
 * Writes the minimised inputs of test/fuzz/cases/ (one per distinct crash the
 * fuzzer found; test/fuzz/regressions.test.ts asserts each gives a one-line
 * InputError). Run against dist/ after `npm run build`: node scripts/fuzz/regression-cases.js
 */
const fs = require('fs');
const path = require('path');
const b = require('./targets/onnx-build');
const n = require('./targets/npy-build');
const { zip } = require('./targets/npz');
const { png } = require('./targets/image');

const OUT = path.join(__dirname, '..', '..', 'test', 'fuzz', 'cases');
const write = (name, data) => {
  const full = path.join(OUT, name);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, typeof data === 'string' ? data : Buffer.from(data));
};
const model = (initializer) => b.encodeModel({ ir_version: 8, opset_import: [{ version: 17 }], graph: { name: 'g', initializer } });
const tensor = (t) => new Uint8Array(b.proto().TensorProto.encode(b.proto().TensorProto.fromObject(t)).finish());

// ONNX: raw_data shorter than float32[4,3] (was a TensorDataError in the first pass to read it).
write('onnx-raw-size.onnx', model([{ name: 'W', data_type: 1, dims: [4, 3], raw_data: b.f32([1, 2]) }]));
// ONNX: a string tensor holding raw_data (was "tensor 's' is string, not string").
write('onnx-string-raw.onnx', model([{ name: 's', data_type: 8, dims: [2], raw_data: [1, 2, 3] }]));
// ONNX test data: dims whose product overflows, and a negative dim (were RangeError: Invalid typed array length).
write('pb-dims-overflow/test_data_set_0/input_0.pb', tensor({ name: 'x', data_type: 1, dims: [65536, 67108864, 67108864], raw_data: b.f32([1]) }));
write('pb-negative-dim/test_data_set_0/input_0.pb', tensor({ name: 'x', data_type: 1, dims: [-2147483647, 2], raw_data: b.f32([1, 2]) }));
// ONNX external data whose location is a folder (was EISDIR from fs.readSync).
write('external-folder/model.onnx', model([{ name: 'W', data_type: 1, dims: [2], data_location: 1, external_data: [{ key: 'location', value: 'sub' }] }]));
write('external-folder/sub/README', 'a folder named as external data\n');
// ONNX: If subgraphs nested 100 deep (10^4 deep is built in the test: 300 KB).
write('onnx-nested-100.onnx', b.nestedModel(100));
// .npy: a dtype string with a newline in it (the message ran over two lines).
write('npy-descr-newline.npy', n.npy('<f4\n', [2], new Float32Array(2)));
// .npz: a central directory record whose name runs past the directory (was RangeError from Buffer.from).
{
  const z = Buffer.from(zip([{ name: 'x.npy', data: n.npy('<f4', [2], new Float32Array(2)), method: 0 }]));
  const cd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  z.writeUInt16LE(0x7fff, cd + 28);
  write('npz-name-overrun.npz', z);
}
// .npz: a zip64 extra field too short for the sizes it must carry (was RangeError from DataView).
{
  const z = Buffer.from(zip([{ name: 'x.npy', data: n.npy('<f4', [2], new Float32Array(2)), method: 0, zip64: true }]));
  const cd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  z.writeUInt16LE(4, cd + 46 + 5 + 2); // zip64 extra data size: 4 instead of 16
  write('npz-zip64-extra.npz', z);
}
// .npz: a deflated entry that declares 2^40 bytes from 40 compressed bytes.
write('npz-declared-bomb.npz', zip([{ name: 'x.npy', data: n.npy('<f4', [2 ** 28, 1024], new Uint8Array(16)), method: 8, size: 2 ** 40, zip64: true }]));
// PNG whose header claims 2147483647 x 6 pixels (pngjs allocated 12 GiB for it).
write('png-huge.png', png(2 ** 31 - 1, 6, { idat: require('zlib').deflateSync(Buffer.alloc(10)) }));
// PNG of zero width and 2^32-1 rows (pngjs looped over the rows: a hang at 10^4 cases).
write('png-zero-width.png', png(0, 2 ** 32 - 1, { idat: require('zlib').deflateSync(Buffer.alloc(10)) }));
// JPEG whose SOF claims 65535 x 65535 (checked before jpeg-js allocates).
{
  const j = Buffer.from(require('./targets/image').seeds().find((s) => s.main === 'img.jpg').files['img.jpg']);
  const sof = j.indexOf(Buffer.from([0xff, 0xc0]));
  j.writeUInt16BE(0xffff, sof + 5);
  j.writeUInt16BE(0xffff, sof + 7);
  write('jpeg-huge.jpg', j);
}
// Recipes: alias expansion past yaml's limit, and an alias without its anchor (were ReferenceError).
{
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let k = 1; k < 10; k++) lines.push(`a${k}: &a${k} [${Array(10).fill(`*a${k - 1}`).join(', ')}]`);
  write('recipe-alias-bomb.yaml', `${lines.join('\n')}\nsteps: [{quantize: {bits: 8}}]\n`);
  write('recipe-unresolved-alias.yaml', 'steps: [{quantize: {bits: *nope}}]\n');
}
// tfjs: model.json nested 600 levels deep (10^4 levels overflowed the stack in the readers' JSON.stringify).
write('tfjs-deep/model.json', `{"format":"graph-model","modelTopology":{"node":[]},"weightsManifest":[{"paths":[],"weights":[${'['.repeat(600)}${']'.repeat(600)}]}]}`);
console.log(`wrote ${OUT}`);
