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
  try {
    if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) {
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, data: png.data };
    }
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
      return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    }
  } catch (e) {
    throw new InputError(`corrupt image (${(e as Error).message})`, file);
  }
  throw new InputError(bytes.length === 0 ? 'empty image file' : 'not a PNG or JPEG image', file);
}
