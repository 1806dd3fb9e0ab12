/**
 * The 2 GiB limits (issue 15 §2), checked without allocating 2 GiB in jest:
 *  - a single float32 tensor over 2^31 bytes in external data (a sparse file: no disk
 *    blocks, no memory) loads lazily, and the built `mc inspect` summarises it reading no
 *    weight; a tensor over what one Node buffer holds is refused with one clear line by
 *    `mc quantize` (exit 2), with nothing written;
 *  - transfers of tensor bytes go in chunks under fs.readSync/writeSync's 2^31 − 1 limit
 *    (readFully/writeFully with a small chunk round-trip every byte);
 *  - protobuf's 2 GiB limit never yields a corrupt file: weights over it go to external data,
 *    and a message still over it (a huge tensor inside a node attribute) is refused with an
 *    InputError, leaving no file and no temp file (limit lowered through maxProtoBytes).
 * Quantizing a real 2.25 GiB tensor needs that much memory: bench/huge.bench.js does it
 * (MC_HUGE_ONLY=2g).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { externalDataStats, loadOnnx, saveOnnx } from '../../src/formats/onnx';
import { encodeModel } from '../../src/formats/onnx/codec';
import { Graph, Model, Node, Tensor, Value } from '../../src/ir';
import { MAX_BUFFER_BYTES, readFully, writeFully } from '../../src/util/file-io';
import { assertBuilt, BIN } from '../helpers/cli-run';
import { seeded } from './model';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-limits-')); });
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** x[b, k] · w[k, n] with w external at offset 0 of a sparse data file of exactly its size. */
function sparseMatMul(file: string, k: number, n: number): number {
  const bytes = k * n * 4;
  const data = `${path.basename(file)}.data`;
  const fd = fs.openSync(path.join(path.dirname(file), data), 'w');
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['b', k] });
  g.inputs.push(x);
  const w = g.addInitializer('w', new Tensor('float32', [k, n], { kind: 'lazy', byteLength: bytes, load: () => { throw new Error('not read'); } }, 'w'));
  const y = new Value('y', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'MatMul', name: 'mm', inputs: [x, w], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  // A lazy tensor whose storage says external at [0, bytes) of the sparse file: saveOnnx would copy it,
  // so the model file is encoded with the reference written by hand.
  fs.writeFileSync(file, encodeModel(m, { externalize: () => [{ key: 'location', value: data }, { key: 'offset', value: '0' }, { key: 'length', value: String(bytes) }] }));
  return bytes;
}

test('a float32 tensor over 2 GiB in external data loads lazily and mc inspect reads none of it', () => {
  assertBuilt();
  const file = path.join(dir, 'big2g.onnx');
  const bytes = sparseMatMul(file, 32768, 16385);
  expect(bytes).toBeGreaterThan(2 ** 31);
  const reads = externalDataStats.reads;
  const m = loadOnnx(file);
  expect(m.graph.initializers[0].const!.byteLength).toBe(bytes);
  expect(externalDataStats.reads).toBe(reads);
  const r = spawnSync(process.execPath, [BIN, 'inspect', file, '--json'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(String(32768 * 16385)); // the parameter count
});

test('a tensor larger than one Node buffer: mc quantize exits 2 with one line and writes nothing', () => {
  assertBuilt();
  const sub = path.join(dir, 'over-buffer');
  fs.mkdirSync(sub);
  const file = path.join(sub, 'big.onnx');
  const k = 65536;
  const n = Math.ceil((MAX_BUFFER_BYTES + 1) / 4 / k);
  sparseMatMul(file, k, n);
  const r = spawnSync(process.execPath, [BIN, 'quantize', file, '-o', path.join(sub, 'q.onnx'), '--bits', '8', '--no-output-check'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/tensor 'w' is \d+ bytes, more than one Node\.js buffer holds \(\d+\); mc cannot load it/);
  expect(fs.readdirSync(sub).sort()).toEqual(['big.onnx', 'big.onnx.data']);
});

test('readFully/writeFully move every byte in chunks', () => {
  const file = path.join(dir, 'chunks.bin');
  const data = new Uint8Array(seeded(1000, 5).buffer);
  const fd = fs.openSync(file, 'w+');
  try {
    writeFully(fd, data, 3, 7);
    const back = new Uint8Array(data.byteLength);
    expect(readFully(fd, back, 3, 11)).toBe(data.byteLength);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(readFully(fd, new Uint8Array(10), data.byteLength, 4)).toBe(3); // past the end: the bytes there are
  } finally {
    fs.closeSync(fd);
  }
});

function constantModel(attrBytes: number, initBytes: number): Model {
  const g = new Graph();
  const c = new Value('c', { dtype: 'float32' });
  const big = new Tensor('float32', [attrBytes / 4], { kind: 'bytes', bytes: new Uint8Array(attrBytes) }, 'big');
  g.addNode(new Node({ opType: 'Constant', name: 'const', inputs: [], outputs: [c], attributes: [{ name: 'value', type: 'tensor', value: big }] }));
  const w = g.addInitializer('w', new Tensor('float32', [initBytes / 4], { kind: 'bytes', bytes: new Uint8Array(seeded(initBytes / 4, 3).buffer) }, 'w'));
  const y = new Value('y', { dtype: 'float32' });
  g.addNode(new Node({ opType: 'Add', name: 'add', inputs: [c, w], outputs: [y] }));
  g.outputs.push(y);
  const m = new Model('onnx', g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 13 }];
  return m;
}

test('weights over the protobuf limit go to external data, and the file reads back the same', () => {
  const sub = path.join(dir, 'forced');
  fs.mkdirSync(sub);
  const file = path.join(sub, 'm.onnx');
  saveOnnx(constantModel(64, 8192), file, { maxProtoBytes: 4096 });
  expect(fs.readdirSync(sub).sort()).toEqual(['m.onnx', 'm.onnx.data']);
  const back = loadOnnx(file);
  expect(Buffer.from(back.graph.initializers[0].const!.bytes()).equals(Buffer.from(seeded(2048, 3).buffer))).toBe(true);
});

test('a message still over the limit (a huge attribute tensor) is refused: no file, no temp file', () => {
  const sub = path.join(dir, 'refused');
  fs.mkdirSync(sub);
  const file = path.join(sub, 'm.onnx');
  expect(() => saveOnnx(constantModel(8192, 8192), file, { maxProtoBytes: 4096 }))
    .toThrow(/the ONNX message would be \d+ bytes, over protobuf's limit of 4096 bytes \(2 GiB\) even with initializers in external data .*nothing written/);
  expect(fs.readdirSync(sub)).toEqual([]);
});
