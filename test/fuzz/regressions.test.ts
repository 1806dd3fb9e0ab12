/**
 * One test per distinct crash `npm run fuzz` found (docs/fuzzing.md). Each
 * minimised input sits in test/fuzz/cases/ (written by
 * scripts/fuzz/regression-cases.js) and must now give mc's typed InputError
 * with a one-line message naming the file, instead of a TypeError, a
 * RangeError, a hang or a gigabyte allocation. Two run the built binary to
 * show the user's side: exit 2 and one line on stderr.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError } from '../../src/errors';
import { decodeOnnx, loadOnnx } from '../../src/formats/onnx';
import { proto } from '../../src/formats/onnx/schema';
import { loadTfjs } from '../../src/formats/tfjs';
import { decodeImage } from '../../src/data/images';
import { openNpy, openNpz } from '../../src/data/open-arrays';
import { OnnxTestDataDataset } from '../../src/data/onnx-test-data';
import { readRecipe } from '../../src/plan/read';
import { runMc } from '../helpers/cli-run';

const CASES = path.join(__dirname, 'cases');
const at = (name: string): string => path.join(CASES, name);

/** Runs `f`, which must throw an InputError whose one-line message names `file` and matches `pattern`. */
function expectInputError(f: () => unknown, file: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(InputError);
  const msg = (caught as Error).message;
  expect(msg).not.toContain('\n');
  expect(msg).toContain(file);
  expect(msg).toMatch(pattern);
}

/** Everything a dataset holds, read batch by batch, as mc eval would. */
function readAll(ds: { describe(): unknown; batches(n: number): Iterable<unknown> }): void {
  ds.describe();
  for (const b of ds.batches(2)) void b;
}

/**
 * A ModelProto nesting `depth` If subgraphs, encoded by hand (field numbers
 * from onnx.proto). Each level is a prefix before the inner graph, so lengths
 * are computed inside out and the prefixes written outside in: linear time.
 */
function nestedIfModel(depth: number): Uint8Array {
  const varint = (v: number): number[] => {
    const out: number[] = [];
    do { out.push((v % 128) | (v >= 128 ? 0x80 : 0)); v = Math.floor(v / 128); } while (v);
    return out;
  };
  const tag = (no: number): number[] => varint((no << 3) | 2);
  const str = (no: number, s: string): number[] => [...tag(no), ...varint(s.length), ...Buffer.from(s)];
  const leaf = str(2, 'leaf'); // GraphProto.name
  const prefixes: number[][] = [];
  let inner = leaf.length;
  for (let k = 0; k < depth; k++) {
    const attrHead = [...str(1, 'then_branch'), ...varint(20 << 3), 5, ...tag(6), ...varint(inner)]; // name, type = GRAPH, g
    const attrLen = attrHead.length + inner;
    const nodeHead = [...str(4, 'If'), ...str(1, 'c'), ...tag(5), ...varint(attrLen)]; // op_type, input, attribute
    const nodeLen = nodeHead.length + attrLen;
    const graphHead = [...tag(1), ...varint(nodeLen)]; // GraphProto.node
    prefixes.push([...graphHead, ...nodeHead, ...attrHead]);
    inner = graphHead.length + nodeLen;
  }
  const model = [...varint(1 << 3), 8, ...tag(7), ...varint(inner)]; // ir_version 8, graph
  return Uint8Array.from([...model, ...prefixes.reverse().flat(), ...leaf]);
}

describe('ONNX reader', () => {
  test('raw_data shorter than dtype x dims is refused at load (was a TensorDataError in the first pass)', () => {
    expectInputError(() => loadOnnx(at('onnx-raw-size.onnx')), 'onnx-raw-size.onnx', /tensor 'W': float32\[4,3\] needs 48 bytes, raw_data gives 8/);
  });

  test('a tensor name with a newline in it still gives a one-line message (it broke the message in two)', () => {
    const P = proto.ModelProto;
    const bytes = P.encode(P.fromObject({ ir_version: 8, graph: { initializer: [{ name: 'w\nx', data_type: 1, dims: [2], raw_data: new Uint8Array(3) }] } })).finish();
    expectInputError(() => decodeOnnx(bytes, { file: 'm.onnx' }), 'm.onnx', /tensor 'w\\x0ax': float32\[2\] needs 8 bytes, raw_data gives 3/);
  });

  test('a string tensor holding raw_data is refused (was "tensor \'s\' is string, not string")', () => {
    expectInputError(() => loadOnnx(at('onnx-string-raw.onnx')), 'onnx-string-raw.onnx', /string tensor but holds raw_data/);
  });

  test('external data whose location is a folder is refused (was EISDIR from fs.readSync)', () => {
    expectInputError(() => loadOnnx(at('external-folder/model.onnx')), 'sub', /external data location for tensor 'W' is not a file/);
  });

  test('subgraphs nested 10^4 deep give an InputError (not a crash: protobufjs stops at 100 message levels, as protoc does)', () => {
    expectInputError(() => loadOnnx(at('onnx-nested-100.onnx')), 'onnx-nested-100.onnx', /maximum nesting depth exceeded/);
    expectInputError(() => decodeOnnx(nestedIfModel(10_000), { file: 'deep.onnx' }), 'deep.onnx', /maximum nesting depth exceeded/);
    // 30 levels (90 message levels) is within the limit and decodes.
    expect(decodeOnnx(nestedIfModel(30), { file: 'ok.onnx' }).graph.nodes).toHaveLength(1);
  });
});

describe('ONNX test-data tensors', () => {
  test('dims whose product overflows are refused (was RangeError: Invalid typed array length)', () => {
    expectInputError(() => readAll(new OnnxTestDataDataset(at('pb-dims-overflow'))), 'input_0.pb', /dims \[65536,67108864,67108864\] whose product overflows/);
  });

  test('a negative dim is refused (was RangeError: Invalid typed array length)', () => {
    expectInputError(() => readAll(new OnnxTestDataDataset(at('pb-negative-dim'))), 'input_0.pb', /has dim -2147483647, which is not a size/);
  });
});

describe('.npy and .npz readers', () => {
  test('a dtype string with a newline gives a one-line message', () => {
    expectInputError(() => readAll(openNpy(at('npy-descr-newline.npy'))), 'npy-descr-newline.npy', /unsupported \.npy dtype '<f4\\x0a'/);
  });

  test('an array of 2^40 empty samples is refused (reading it looped for hours)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-fuzz-npy-'));
    try {
      const text = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 0), }";
      const head = Buffer.alloc(10);
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
      const dict = `${text}${' '.repeat(64 - ((10 + text.length + 1) % 64))}\n`;
      head.writeUInt16LE(dict.length, 8);
      fs.writeFileSync(path.join(dir, 'x.npy'), Buffer.concat([head, Buffer.from(dict, 'latin1')]));
      expectInputError(() => readAll(openNpy(path.join(dir, 'x.npy'))), 'x.npy', /has empty samples float32\[1099511627776,0\]/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a deflated .npy whose header length field is 0 is refused (was RangeError: Invalid typed array length: -2)', () => {
    // The fuzzer's own minimised input (npm run fuzz -- --seed 1: npz case seed 3013711130).
    expectInputError(() => readAll(openNpz(at('npz-short-header.npz'))), 'npz-short-header.npz:x.npy', /corrupt \.npy header/);
  });

  test('a central directory record running past the directory is refused (was RangeError from Buffer.from)', () => {
    expectInputError(() => openNpz(at('npz-name-overrun.npz')), 'npz-name-overrun.npz', /central directory record runs past the directory/);
  });

  test('a zip64 extra field too short for its sizes is refused (was RangeError from DataView)', () => {
    expectInputError(() => openNpz(at('npz-zip64-extra.npz')), 'npz-zip64-extra.npz', /corrupt zip64 extra field/);
  });

  test('a deflated entry declaring more than deflate can produce is refused before inflating', () => {
    expectInputError(() => openNpz(at('npz-declared-bomb.npz')), 'npz-declared-bomb.npz', /declares 1099511627776 bytes from \d+ deflated bytes/);
  });
});

describe('image decoding', () => {
  test('a PNG header claiming 2147483647 x 6 pixels is refused before pngjs allocates (it asked for 12 GiB)', () => {
    expectInputError(() => decodeImage(at('png-huge.png')), 'png-huge.png', /claims 2147483647x6 pixels, more than the 100 MP limit/);
  });

  test('a PNG of zero width and 2^32-1 rows is refused (pngjs looped over its rows: a hang)', () => {
    expectInputError(() => decodeImage(at('png-zero-width.png')), 'png-zero-width.png', /claims 0x4294967295 pixels; PNG sizes start at 1/);
  });

  test('a JPEG header claiming 65535 x 65535 is refused before jpeg-js allocates', () => {
    expectInputError(() => decodeImage(at('jpeg-huge.jpg')), 'jpeg-huge.jpg', /claims 65535x65535 pixels/);
  });
});

describe('recipe reader', () => {
  test('alias expansion past the yaml limit is a RecipeError (was ReferenceError)', () => {
    expectInputError(() => readRecipe(at('recipe-alias-bomb.yaml')), 'recipe-alias-bomb.yaml:1', /YAML: Excessive alias count/);
  });

  test('an alias without its anchor is a RecipeError (was ReferenceError)', () => {
    expectInputError(() => readRecipe(at('recipe-unresolved-alias.yaml')), 'recipe-unresolved-alias.yaml:1', /YAML: .*nope/);
  });
});

describe('tfjs reader', () => {
  test('a model.json nested past the limit is refused (10^4 levels overflowed the stack in JSON.stringify)', () => {
    expectInputError(() => loadTfjs(at('tfjs-deep/model.json')), 'model.json', /nests 60\d levels deep \(more than 512\)/);
  });
});

describe('the CLI side', () => {
  test.each([
    ['onnx-raw-size.onnx', /onnx-raw-size\.onnx: tensor 'W': float32\[4,3\] needs 48 bytes/],
    ['tfjs-deep/model.json', /model\.json: model\.json nests/],
  ])('mc inspect %s exits 2 with one line on stderr', (name, pattern) => {
    const r = runMc(['inspect', at(name)]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
