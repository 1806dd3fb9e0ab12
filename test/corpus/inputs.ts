/**
 * Deterministic inputs of valid shape for a corpus model, derived from its graph inputs' types
 * (as the onnx reference reader reports them: test/corpus/onnx_params.py).
 *
 * Rules, in order (the corpus models take images, audio, features and recurrent state):
 *  - a state input (named `state`, `h`, `c`, or ending in `_state`) is zeros: the state a stream starts from;
 *    its symbolic dims are its batch, sized BATCH;
 *  - an integer scalar named `sr` (Silero VAD's sample rate) is SAMPLE_RATE; any other integer input has
 *    no rule and throws, so a new model fails loudly rather than being fed nonsense;
 *  - a float input is uniform in [-1, 1) from a seeded PRNG (a normalised image, a waveform, or features);
 *    its symbolic dims are sized: axis 0 (the batch) BATCH; the last axis of a rank-2 input (a waveform
 *    [batch, samples]) AUDIO_SAMPLES; any other SPATIAL.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '../../src/util/prng';

export interface GraphInput {
  name: string;
  /** 'float32', 'float16', 'int64', ... */
  dtype: string;
  /** Fixed dims as numbers; symbolic ones as their name, or null when unnamed. Null when the file gives no shape. */
  shape: (number | string | null)[] | null;
}

/**
 * 4, not 1: models that give one number per example (Silero's speech probability, a wake-word score)
 * then give several, so the SQNR over the outputs is not the relative error of a single value.
 */
export const BATCH = 4;
/** 512 samples: Silero VAD's 32 ms window at 16 kHz, and one 512-point frame of openWakeWord's melspectrogram. */
export const AUDIO_SAMPLES = 512;
export const SAMPLE_RATE = 16000;
/** Image height/width and sequence lengths: a multiple of 32, the stride of PP-OCR's detector. */
export const SPATIAL = 64;

const STATE_NAME = /^(state|h|c)$|_state$/i;

/** The concrete shape the rules above give `input`. */
export function inputShape(input: GraphInput): number[] {
  if (!input.shape) throw new Error(`input ${input.name} has no shape in the file: no rule to size it`);
  const state = STATE_NAME.test(input.name);
  const rank = input.shape.length;
  return input.shape.map((d, axis) => {
    if (typeof d === 'number' && d > 0) return d;
    if (state || axis === 0) return BATCH;
    if (rank === 2 && axis === 1) return AUDIO_SAMPLES;
    return SPATIAL;
  });
}

/** One onnxruntime tensor per graph input, the same for the same `seed`. */
export function synthesizeInputs(inputs: readonly GraphInput[], seed: number): Record<string, ort.Tensor> {
  const rand = mulberry32(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const shape = inputShape(input);
    const n = shape.reduce((a, b) => a * b, 1);
    if (input.dtype === 'int64' || input.dtype === 'int32') {
      if (input.name !== 'sr' || n !== 1) throw new Error(`integer input ${input.name} [${shape}]: no rule for its values`);
      feeds[input.name] = input.dtype === 'int64'
        ? new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), shape)
        : new ort.Tensor('int32', Int32Array.from([SAMPLE_RATE]), shape);
    } else if (input.dtype === 'float32') {
      const data = new Float32Array(n);
      if (!STATE_NAME.test(input.name)) for (let i = 0; i < n; i++) data[i] = 2 * rand() - 1;
      feeds[input.name] = new ort.Tensor('float32', data, shape);
    } else {
      throw new Error(`input ${input.name}: dtype ${input.dtype} has no rule`);
    }
  }
  return feeds;
}

/**
 * Text images for PP-OCR's detector, whose probability map on random input is zero to within 1e-6
 * everywhere (no text), so an SQNR there measures the rounding of nothing. Renders `count` images
 * [height, width] with scripts/corpus-text-images.py (Debian's python3-pil and fonts-dejavu-core) into
 * `dir`, preprocessed as PaddleOCR does, and returns them as one float32 batch [count, 3, height, width].
 */
export function renderedTextImages(dir: string, count: number, seed: number, height: number, width: number): ort.Tensor {
  const script = path.join(__dirname, '..', '..', 'scripts', 'corpus-text-images.py');
  try {
    execFileSync('/usr/bin/python3', [script, dir, '--count', String(count), '--seed', String(seed), '--height', String(height), '--width', String(width)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`rendering text images failed (needs Debian's python3-pil, python3-numpy and fonts-dejavu-core): ${(e as { stderr?: string }).stderr ?? String(e)}`);
  }
  const b = fs.readFileSync(path.join(dir, 'x.npy'));
  const headerLength = b.readUInt16LE(8);
  const header = b.toString('latin1', 10, 10 + headerLength);
  if (!header.includes("'descr': '<f4'") || !header.includes(`'shape': (${count}, 3, ${height}, ${width})`)) throw new Error(`unexpected x.npy header ${header}`);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + headerLength, b.byteOffset + b.length));
  return new ort.Tensor('float32', data, [count, 3, height, width]);
}
