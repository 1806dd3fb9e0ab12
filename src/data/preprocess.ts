import { UsageError } from '../errors';
import type { InputSpec } from './types';
import { resizeBilinear, Window } from './resize';

export type Layout = 'NCHW' | 'NHWC';
export type Channels = 'RGB' | 'BGR' | 'GRAY';

/**
 * How images become float32 model input:
 *   1. decode to 8-bit RGBA; pick channels (GRAY = ITU-R 601-2 luma, as
 *      Pillow's convert('L'): 0.299 R + 0.587 G + 0.114 B); alpha is dropped;
 *   2. resize bilinearly (see resize.ts) to `size`, or, with `centerCrop`,
 *      resize the shorter side and cut the centre `size` window;
 *   3. value = (pixel × scale − mean[c]) / std[c];
 *   4. lay out as NCHW or NHWC.
 */
export interface PreprocessOptions {
  /** [height, width]; by default the model input's spatial size. */
  size?: [number, number];
  resize: 'bilinear';
  /**
   * Resize-then-crop, as torchvision's Resize(S) + CenterCrop(size): the
   * shorter side is scaled to S (the longer to trunc(S·long/short)) and the
   * centre size window is kept (offsets round((S' − size) / 2), half to even,
   * like torchvision). A value ≤ 1 is a crop fraction (timm's crop_pct):
   * S = floor(min(size) / centerCrop), so 0.875 with size 224 gives S = 256.
   * A value > 1 is S itself (256).
   */
  centerCrop?: number;
  layout: Layout;
  channels: Channels;
  /** Multiplies raw 0..255 pixels before mean/std; default 1/255. */
  scale: number;
  /** Per channel (in `channels` order), or one value for all; default [0]. */
  mean: number[];
  /** Per channel, or one value for all; default [1]. */
  std: number[];
}

/** Options with every field settled for a given model input. */
export type ResolvedPreprocess = Omit<PreprocessOptions, 'size'> & { size: [number, number] };

const KEYS = ['size', 'resize', 'crop', 'layout', 'channels', 'scale', 'mean', 'std'] as const;

/**
 * Parses the CLI form, e.g.
 *   "size=224,layout=NCHW,channels=RGB,scale=0.00392156862745098,mean=0.485:0.456:0.406,std=0.229:0.224:0.225,crop=0.875"
 * size is "224" (square) or "HxW"; scale may be a fraction ("1/255"); mean
 * and std are colon-separated; crop sets centerCrop. Only the keys given are
 * returned: the rest are filled from the model by resolvePreprocess.
 */
export function parsePreprocess(s: string): Partial<PreprocessOptions> {
  const out: Partial<PreprocessOptions> = {};
  const seen = new Set<string>();
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new UsageError(`--preprocess: expected key=value, got '${part}'`);
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (!(KEYS as readonly string[]).includes(key)) throw new UsageError(`--preprocess: unknown key '${key}' (known: ${KEYS.join(', ')})`);
    if (seen.has(key)) throw new UsageError(`--preprocess: '${key}' given twice`);
    seen.add(key);
    switch (key as (typeof KEYS)[number]) {
      case 'size': {
        const m = /^(\d+)(?:[x:](\d+))?$/.exec(val);
        if (!m) throw new UsageError(`--preprocess: size must be N or HxW, got '${val}'`);
        out.size = [positiveInt(m[1], 'size'), positiveInt(m[2] ?? m[1], 'size')];
        break;
      }
      case 'resize':
        if (val !== 'bilinear') throw new UsageError(`--preprocess: resize must be 'bilinear', got '${val}'`);
        out.resize = 'bilinear';
        break;
      case 'crop':
        out.centerCrop = number(val, 'crop');
        break;
      case 'layout': {
        const v = val.toUpperCase();
        if (v !== 'NCHW' && v !== 'NHWC') throw new UsageError(`--preprocess: layout must be NCHW or NHWC, got '${val}'`);
        out.layout = v;
        break;
      }
      case 'channels': {
        const v = val.toUpperCase();
        if (v !== 'RGB' && v !== 'BGR' && v !== 'GRAY') throw new UsageError(`--preprocess: channels must be RGB, BGR or GRAY, got '${val}'`);
        out.channels = v;
        break;
      }
      case 'scale':
        out.scale = number(val, 'scale');
        break;
      case 'mean':
      case 'std':
        out[key as 'mean' | 'std'] = val.split(':').map((x) => number(x, key));
        break;
    }
  }
  return out;
}

/**
 * Settles every option for `spec` (the model's image input, rank 4, batch
 * first): layout from where the 1- or 3-sized channel dim sits (NCHW when it
 * cannot tell), channels GRAY for one channel and RGB otherwise, size from the
 * spatial dims. Throws a UsageError for contradictions or when the size cannot
 * be known.
 */
export function resolvePreprocess(p: Partial<PreprocessOptions> = {}, spec?: InputSpec): ResolvedPreprocess {
  const dims = spec && spec.shape.length === 4 ? spec.shape : undefined;
  if (spec && !dims) throw new UsageError(`images feed a rank-4 input, but '${spec.name}' has shape [${spec.shape.join(',')}]`);
  const isCh = (d: number | string | null | undefined): boolean => d === 1 || d === 3;
  const layout: Layout = p.layout ?? (dims && isCh(dims[3]) && !isCh(dims[1]) ? 'NHWC' : 'NCHW');
  const [hDim, wDim, cDim] = !dims ? [undefined, undefined, undefined]
    : layout === 'NCHW' ? [dims[2], dims[3], dims[1]] : [dims[1], dims[2], dims[3]];
  const channels: Channels = p.channels ?? (cDim === 1 ? 'GRAY' : 'RGB');
  const c = channels === 'GRAY' ? 1 : 3;
  if (typeof cDim === 'number' && cDim !== c) {
    throw new UsageError(`--preprocess: channels=${channels} gives ${c} channel(s), but input '${spec!.name}' (${layout}) takes ${cDim}`);
  }
  let size = p.size;
  if (!size) {
    if (typeof hDim !== 'number' || typeof wDim !== 'number') {
      const what = spec ? `input '${spec.name}' has no fixed height and width` : 'no model input was given';
      throw new UsageError(`--preprocess: images need a size and ${what}; pass size=N or size=HxW`);
    }
    size = [hDim, wDim];
  }
  const mean = p.mean ?? [0];
  const std = p.std ?? [1];
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (v.length !== 1 && v.length !== c) throw new UsageError(`--preprocess: ${name} needs 1 or ${c} values for ${channels}, got ${v.length}`);
  }
  if (std.some((x) => x === 0)) throw new UsageError('--preprocess: std must not be 0');
  const cc = p.centerCrop;
  if (cc !== undefined && !(cc > 0 && (cc <= 1 || Number.isInteger(cc)))) {
    throw new UsageError(`--preprocess: crop must be a fraction in (0,1] or a whole resize length, got ${cc}`);
  }
  return { size, resize: 'bilinear', layout, channels, scale: p.scale ?? 1 / 255, mean, std, ...(cc !== undefined ? { centerCrop: cc } : {}) };
}

export function channelCount(p: ResolvedPreprocess): number {
  return p.channels === 'GRAY' ? 1 : 3;
}

/** Per-sample output shape: [C,H,W] or [H,W,C]. */
export function sampleShape(p: ResolvedPreprocess): number[] {
  const c = channelCount(p);
  return p.layout === 'NCHW' ? [c, p.size[0], p.size[1]] : [p.size[0], p.size[1], c];
}

/** An 8-bit RGBA image, as pngjs and jpeg-js decode them. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/**
 * Preprocesses one image into out[offset .. offset + C·H·W). Throws a plain
 * Error for an impossible crop; the caller names the file.
 */
export function preprocessImage(img: RgbaImage, p: ResolvedPreprocess, out: Float32Array, offset: number): void {
  const c = channelCount(p);
  const { width: w, height: h } = img;
  const px = new Float32Array(w * h * c);
  for (let i = 0, j = 0; i < w * h; i++, j += c) {
    const r = img.data[i * 4], g = img.data[i * 4 + 1], b = img.data[i * 4 + 2];
    if (p.channels === 'GRAY') px[j] = 0.299 * r + 0.587 * g + 0.114 * b;
    else if (p.channels === 'RGB') { px[j] = r; px[j + 1] = g; px[j + 2] = b; }
    else { px[j] = b; px[j + 1] = g; px[j + 2] = r; }
  }

  const [th, tw] = p.size;
  let resized: Float32Array;
  if (p.centerCrop === undefined) {
    resized = th === h && tw === w ? px : resizeBilinear(px, h, w, c, th, tw);
  } else {
    const S = p.centerCrop <= 1 ? Math.floor(Math.min(th, tw) / p.centerCrop) : p.centerCrop;
    // torchvision Resize(int): the shorter side becomes S, the longer trunc(S·long/short).
    const [rh, rw] = h <= w ? [S, Math.trunc((S * w) / h)] : [Math.trunc((S * h) / w), S];
    if (rh < th || rw < tw) throw new Error(`centre crop ${th}x${tw} is larger than the resized image ${rh}x${rw}`);
    const win: Window = { top: roundHalfEven((rh - th) / 2), left: roundHalfEven((rw - tw) / 2), height: th, width: tw };
    resized = resizeBilinear(px, h, w, c, rh, rw, win);
  }

  const mean = (ch: number): number => (p.mean.length === 1 ? p.mean[0] : p.mean[ch]);
  const std = (ch: number): number => (p.std.length === 1 ? p.std[0] : p.std[ch]);
  const plane = th * tw;
  for (let ch = 0; ch < c; ch++) {
    const m = mean(ch), s = std(ch);
    for (let i = 0; i < plane; i++) {
      const v = (resized[i * c + ch] * p.scale - m) / s;
      out[offset + (p.layout === 'NCHW' ? ch * plane + i : i * c + ch)] = v;
    }
  }
}

/** Python's round(): halves go to the even neighbour (torchvision's crop offsets use it). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function number(s: string, key: string): number {
  const frac = /^\s*([-+0-9.eE]+)\s*\/\s*([-+0-9.eE]+)\s*$/.exec(s);
  const v = frac ? Number(frac[1]) / Number(frac[2]) : s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) throw new UsageError(`--preprocess: ${key} must be a number, got '${s}'`);
  return v;
}

function positiveInt(s: string, key: string): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`--preprocess: ${key} must be a positive integer, got '${s}'`);
  return v;
}
