import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { InputError, UsageError } from '../../src/errors';
import { InputSpec, openDataset, parsePreprocess, resizeBilinear, resolvePreprocess } from '../../src/data';
import { tmpDir } from './helpers';

type Rgb = [number, number, number];

function writePng(file: string, w: number, h: number, px: (x: number, y: number) => Rgb): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) png.data.set([...px(x, y), 255], (y * w + x) * 4);
  fs.writeFileSync(file, PNG.sync.write(png));
}

function writeJpeg(file: string, w: number, h: number, rgb: Rgb): void {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], i * 4);
  fs.writeFileSync(file, jpeg.encode({ width: w, height: h, data }, 100).data);
}

const close = (got: ArrayLike<number>, want: number[], digits = 5): void => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, digits));
};

describe('resizeBilinear (Pillow/torchvision semantics, worked by hand)', () => {
  test('2x2 → 4x4 upscale uses half-pixel centres and clamps at the edges', () => {
    const out = resizeBilinear(new Float32Array([0, 4, 8, 12]), 2, 2, 1, 4, 4);
    // Row pass: [0,4] → [0, .75·0+.25·4, .25·0+.75·4, 4] = [0,1,3,4]; the column pass mixes rows alike.
    close(out, [0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12]);
  });
  test('1x4 → 1x2 downscale widens the triangle filter (antialias): taps 3/7, 3/7, 1/7', () => {
    // out0: centre 1, support 2, taps x=0,1,2 with weights .75,.75,.25 (x=-1 is outside and dropped) → (0·3 + 7·3 + 14·1)/7 = 5
    close(resizeBilinear(new Float32Array([0, 7, 14, 21]), 1, 4, 1, 1, 2), [5, 16]);
  });
  test('same size is the identity; channels stay interleaved', () => {
    const src = new Float32Array([1, 2, 3, 4, 5, 6]);
    close(resizeBilinear(src, 1, 2, 3, 1, 2), [1, 2, 3, 4, 5, 6]);
    close(resizeBilinear(new Float32Array([0, 100, 4, 104, 8, 108, 12, 112]), 2, 2, 2, 4, 4).filter((_, i) => i % 2 === 1), [100, 101, 103, 104, 102, 103, 105, 106, 106, 107, 109, 110, 108, 109, 111, 112]);
  });
  test('a window of the resized image equals cropping the full resize', () => {
    close(resizeBilinear(new Float32Array([0, 4, 8, 12]), 2, 2, 1, 4, 4, { top: 1, left: 1, height: 2, width: 2 }), [3, 5, 7, 9]);
  });
});

describe('image folders', () => {
  const spec = (shape: (number | string)[]): InputSpec => ({ name: 'img', dtype: 'float32', shape });
  // 2x2 image: red, green / blue, (10,20,30).
  const quad: Rgb[] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]];
  const dir = tmpDir();
  writePng(path.join(dir, 'b.png'), 2, 2, (x, y) => quad[y * 2 + x]);
  writeJpeg(path.join(dir, 'a.jpg'), 8, 8, [200, 100, 50]);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  fs.mkdirSync(path.join(dir, 'sub'));
  writePng(path.join(dir, 'sub', 'hidden.png'), 2, 2, () => [0, 0, 0]);

  test('NCHW RGB at native size: planes of pixel/255, files in name order', () => {
    const ds = openDataset(path.join(dir), { inputs: [spec(['N', 3, 2, 2])] });
    expect(ds.count).toBe(2);
    expect(ds.describe()).toEqual([{ name: 'img', dtype: 'float32', shape: [3, 2, 2], file: dir }]);
    const [b] = [...ds.batches(8)];
    const t = b.inputs.get('img')!;
    expect(t.shape).toEqual([2, 3, 2, 2]);
    // a.jpg first: an 8x8 solid colour shrunk to 2x2 stays that colour (JPEG at quality 100 is within ±2).
    const jpg = Array.from(t.data.subarray(0, 12) as Float32Array);
    [200, 100, 50].forEach((v, c) => jpg.slice(c * 4, c * 4 + 4).forEach((got) => expect(Math.abs(got * 255 - v)).toBeLessThanOrEqual(2)));
    close(t.data.subarray(12) as Float32Array, [255, 0, 0, 10, 0, 255, 0, 20, 0, 0, 255, 30].map((v) => v / 255));
  });

  test('NHWC BGR with mean/std: (p·scale − mean[c]) / std[c]', () => {
    const p = parsePreprocess('layout=NHWC,channels=BGR,scale=1/255,mean=0.406:0.456:0.485,std=0.225:0.224:0.229');
    const ds = openDataset(dir, { inputs: [spec(['N', 2, 2, 3])], preprocess: p });
    const t = [...ds.batches(1, 2)][1].inputs.get('img')!;
    expect(t.shape).toEqual([1, 2, 2, 3]);
    const m = [0.406, 0.456, 0.485], s = [0.225, 0.224, 0.229];
    close(t.data as Float32Array, quad.flatMap(([r, g, bl]) => [bl, g, r].map((v, c) => (v / 255 - m[c]) / s[c])));
  });

  test('GRAY is Pillow\'s 601-2 luma; one channel inferred from [N,1,H,W]', () => {
    const ds = openDataset(dir, { inputs: [spec([1, 1, 2, 2])] });
    const t = [...ds.batches(1)][1].inputs.get('img')!;
    close(t.data as Float32Array, quad.map(([r, g, b]) => (0.299 * r + 0.587 * g + 0.114 * b) / 255));
  });

  test('default size comes from the model; 2x2 → 4x4 bilinear per channel', () => {
    const ds = openDataset(dir, { inputs: [spec(['N', 3, 4, 4])], preprocess: { scale: 1 } });
    const t = [...ds.batches(2)][0].inputs.get('img')!;
    const red = Array.from(t.data.subarray(48, 64) as Float32Array); // second image, R plane
    const row0 = [255, 191.25, 63.75, 0], row3 = [0, 2.5, 7.5, 10]; // [255,0] and [0,10] upsampled
    const rows = [row0, row0.map((v, i) => 0.75 * v + 0.25 * row3[i]), row0.map((v, i) => 0.25 * v + 0.75 * row3[i]), row3];
    close(red, rows.flat(), 4);
  });

  test('center crop: the shorter side is resized to S, then the centre window is cut', () => {
    const wide = tmpDir();
    // 4 wide × 2 tall, distinct red per pixel.
    writePng(path.join(wide, 'w.png'), 4, 2, (x, y) => [x * 10 + y * 100, 0, 0]);
    // crop fraction 1 with size 2: S = 2 = the height; width stays 4; centre columns 1..2.
    const a = [...openDataset(wide, { inputs: [spec(['N', 3, 2, 2])], preprocess: { centerCrop: 1, scale: 1 } }).batches(1)][0];
    close((a.inputs.get('img')!.data as Float32Array).subarray(0, 4), [10, 20, 110, 120]);
    // S = 3: resized to 3×6, top = round(0.5) = 0 (half to even), left = 2; must equal cutting the full 3×6 resize.
    const b = [...openDataset(wide, { inputs: [spec(['N', 3, 2, 2])], preprocess: { centerCrop: 3, scale: 1 } }).batches(1)][0];
    const src = new Float32Array(8).map((_, i) => (i % 4) * 10 + Math.floor(i / 4) * 100);
    const full = resizeBilinear(src, 2, 4, 1, 3, 6);
    close((b.inputs.get('img')!.data as Float32Array).subarray(0, 4), [full[2], full[3], full[8], full[9]]);
  });

  test('limit and batches over images', () => {
    const ds = openDataset(dir, { inputs: [spec(['N', 3, 2, 2])] });
    expect([...ds.batches(1, 1)].map((b) => [b.start, b.count])).toEqual([[0, 1]]);
  });

  test('errors: empty folder, corrupt image, several model inputs, unknown size', () => {
    const empty = tmpDir();
    fs.writeFileSync(path.join(empty, 'readme.md'), '');
    expect(() => openDataset(empty)).toThrow(new InputError('no samples (no .png, .jpg or .jpeg files)', empty));
    const bad = tmpDir();
    fs.writeFileSync(path.join(bad, 'x.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    const ds = openDataset(bad, { inputs: [spec(['N', 3, 2, 2])] });
    expect(() => [...ds.batches(1)]).toThrow(InputError);
    expect(() => [...ds.batches(1)]).toThrow(`${path.join(bad, 'x.png')}: corrupt image`);
    expect(() => openDataset(dir, { inputs: [spec(['N', 3, 2, 2]), { ...spec(['N']), name: 'other' }] }))
      .toThrow('an image folder feeds one input, but the model has 2 (img, other)');
    expect(() => openDataset(dir, { inputs: [spec(['N', 3, 'h', 'w'])] }))
      .toThrow(new UsageError("--preprocess: images need a size and input 'img' has no fixed height and width; pass size=N or size=HxW"));
  });
});

describe('parsePreprocess / resolvePreprocess', () => {
  test.each<[string, object]>([
    ['', {}],
    ['size=224,layout=NCHW,channels=RGB,scale=0.00392156862745098,mean=0.485:0.456:0.406,std=0.229:0.224:0.225',
      { size: [224, 224], layout: 'NCHW', channels: 'RGB', scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }],
    ['size=224x192, layout=nhwc, channels=gray, crop=0.875, resize=bilinear', { size: [224, 192], layout: 'NHWC', channels: 'GRAY', centerCrop: 0.875, resize: 'bilinear' }],
    ['scale=1/127.5,mean=1', { scale: 1 / 127.5, mean: [1] }],
  ])('%j', (s, want) => expect(parsePreprocess(s)).toEqual(want));

  test.each([
    ['sise=224', "--preprocess: unknown key 'sise' (known: size, resize, crop, layout, channels, scale, mean, std)"],
    ['size=0', "--preprocess: size must be a positive integer, got '0'"],
    ['size=big', "--preprocess: size must be N or HxW, got 'big'"],
    ['layout=CHW', "--preprocess: layout must be NCHW or NHWC, got 'CHW'"],
    ['mean=0.5:x', "--preprocess: mean must be a number, got 'x'"],
    ['scale', "--preprocess: expected key=value, got 'scale'"],
    ['scale=1,scale=2', "--preprocess: 'scale' given twice"],
    ['resize=nearest', "--preprocess: resize must be 'bilinear', got 'nearest'"],
  ])('%j → UsageError', (s, msg) => expect(() => parsePreprocess(s)).toThrow(new UsageError(msg)));

  test('resolve infers layout, channels and size from the model input', () => {
    expect(resolvePreprocess({}, { name: 'x', dtype: 'float32', shape: [1, 224, 224, 3] }))
      .toEqual({ size: [224, 224], resize: 'bilinear', layout: 'NHWC', channels: 'RGB', scale: 1 / 255, mean: [0], std: [1] });
    expect(resolvePreprocess({}, { name: 'x', dtype: 'float32', shape: ['N', 1, 28, 28] })).toMatchObject({ layout: 'NCHW', channels: 'GRAY', size: [28, 28] });
    expect(() => resolvePreprocess({ channels: 'RGB' }, { name: 'x', dtype: 'float32', shape: ['N', 1, 28, 28] }))
      .toThrow("--preprocess: channels=RGB gives 3 channel(s), but input 'x' (NCHW) takes 1");
    expect(() => resolvePreprocess({ size: [2, 2], mean: [1, 2] })).toThrow('--preprocess: mean needs 1 or 3 values for RGB, got 2');
    expect(() => resolvePreprocess({ size: [2, 2], std: [0] })).toThrow('--preprocess: std must not be 0');
  });
});
