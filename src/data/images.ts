import * as fs from 'fs';
import * as nodePath from 'path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { InputError } from '../errors';
import { samplesToRead } from './batching';
import { PreprocessOptions, ResolvedPreprocess, RgbaImage, preprocessImage, resolvePreprocess, sampleShape } from './preprocess';
import type { Batch, BatchTensor, Dataset, InputDescription, InputSpec } from './types';

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/**
 * A folder of PNG/JPEG files, one sample each, in file-name order (plain
 * code-unit order, so the same folder always gives the same order on every
 * machine). Subfolders and other files are ignored. Images are decoded one at
 * a time, so memory stays at one batch of float32 output.
 */
export class ImageFolderDataset implements Dataset {
  readonly kind = 'images';
  readonly count: number;
  readonly name: string;
  readonly preprocess: ResolvedPreprocess;
  private readonly files: string[];

  constructor(readonly path: string, inputs?: readonly InputSpec[], options?: Partial<PreprocessOptions>) {
    if (inputs && inputs.length !== 1) {
      throw new InputError(`an image folder feeds one input, but the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`, path);
    }
    this.files = fs.readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isFile() && IMAGE_EXT.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.count = this.files.length;
    if (this.count === 0) throw new InputError('no samples (no .png, .jpg or .jpeg files)', path);
    this.name = inputs?.[0].name ?? 'image';
    this.preprocess = resolvePreprocess(options, inputs?.[0]);
  }

  describe(): InputDescription[] {
    return [{ name: this.name, dtype: 'float32', shape: sampleShape(this.preprocess), file: this.path }];
  }

  *batches(batchSize: number, limit?: number): Iterable<Batch> {
    const total = samplesToRead(this.count, batchSize, limit);
    const per = sampleShape(this.preprocess);
    const sampleLen = per.reduce((a, b) => a * b, 1);
    for (let start = 0; start < total; start += batchSize) {
      const count = Math.min(batchSize, total - start);
      const data = new Float32Array(count * sampleLen);
      for (let k = 0; k < count; k++) {
        const file = nodePath.join(this.path, this.files[start + k]);
        const img = decodeImage(file);
        try {
          preprocessImage(img, this.preprocess, data, k * sampleLen);
        } catch (e) {
          throw new InputError((e as Error).message, file);
        }
      }
      const t: BatchTensor = { dtype: 'float32', shape: [count, ...per], data };
      yield { inputs: new Map([[this.name, t]]), count, start };
    }
  }
}

/** Decodes a PNG or JPEG (chosen by its signature, not its extension) to 8-bit RGBA. */
export function decodeImage(file: string): RgbaImage {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(`cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
  const isPng = bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng || isJpeg) checkDeclaredSize(isPng ? pngSize(bytes) : jpegSize(bytes), bytes.length, isPng, file);
  try {
    if (isPng) {
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, data: png.data };
    }
    if (isJpeg) {
      return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6 });
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new InputError(`corrupt image (${why.split('\n')[0]})`, file);
  }
  throw new InputError(bytes.length === 0 ? 'empty image file' : 'not a PNG or JPEG image', file);
}

/** Largest image decoded (RGBA at 4 bytes a pixel: 400 MB), jpeg-js's own default limit. */
const MAX_PIXELS = 100e6;
/**
 * How much a byte of compressed data can stand for, at most. PNG: deflate
 * expands at most 1032:1, and each row is a filter byte plus at least one bit
 * a pixel (so a zero-width, 4-billion-row PNG is refused too: pngjs would loop
 * over its rows for minutes). JPEG: a baseline 8×8 block takes at least 2 bits;
 * 4096 pixels a byte leaves room for progressive end-of-band runs. A header
 * claiming more is refused before the decoder allocates its pixel buffers (a
 * 100-byte file must not cost 400 MB).
 */
const DEFLATE_MAX_RATIO = 1032;
const JPEG_PIXELS_PER_BYTE = 4096;

function checkDeclaredSize(size: { width: number; height: number } | undefined, fileBytes: number, png: boolean, file: string): void {
  if (!size) return; // no header found: the decoder reports what is wrong
  const { width, height } = size;
  const claims = `image header claims ${width}x${height} pixels`;
  if (png && (width === 0 || height === 0)) throw new InputError(`${claims}; PNG sizes start at 1`, file);
  if (width * height > MAX_PIXELS) throw new InputError(`${claims}, more than the ${MAX_PIXELS / 1e6} MP limit`, file);
  const fits = png ? height * (1 + Math.ceil(width / 8)) <= DEFLATE_MAX_RATIO * fileBytes : width * height <= JPEG_PIXELS_PER_BYTE * fileBytes;
  if (!fits) throw new InputError(`${claims}, more than a ${fileBytes}-byte file can hold`, file);
}

/** Width and height from a PNG's IHDR (the first chunk, at byte 8). */
function pngSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Width and height from a JPEG's first SOFn segment (ITU T.81 B.2.2), walking the marker segments before it. */
function jpegSize(b: Buffer): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 4 <= b.length && b[i] === 0xff) {
    const marker = b[i + 1];
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) { i += marker === 0xff ? 1 : 2; continue; }
    if (marker === 0xda || marker === 0xd9) return undefined;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof && i + 9 <= b.length) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  return undefined;
}
