import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'fflate';

const FASHION = '/usr/share/datasets/fashion-mnist';

/** Reads the float32 payload of a C-order little-endian .npy (the fixtures' format). */
export function readNpyF32(file: string): { data: Float32Array; shape: number[] } {
  const b = fs.readFileSync(file);
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString('latin1');
  const shape = /\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const body = b.subarray(10 + hlen);
  return { data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), shape };
}

/**
 * Labels for the fixtures' calibration images, which ship without them: each
 * calib image is a Fashion-MNIST training image (pixels / 255), so its label is
 * found by looking its exact pixels up in the training set.
 */
export function deriveCalibLabels(calibFile: string): BigInt64Array {
  const images = gunzipSync(fs.readFileSync(path.join(FASHION, 'train-images-idx3-ubyte.gz'))).subarray(16);
  const labels = gunzipSync(fs.readFileSync(path.join(FASHION, 'train-labels-idx1-ubyte.gz'))).subarray(8);
  const index = new Map<string, number>();
  for (let i = 0; i < labels.length; i++) index.set(Buffer.from(images.subarray(i * 784, (i + 1) * 784)).toString('latin1'), labels[i]);
  const { data, shape } = readNpyF32(calibFile);
  const out = new BigInt64Array(shape[0]);
  const px = new Uint8Array(784);
  for (let s = 0; s < shape[0]; s++) {
    for (let k = 0; k < 784; k++) px[k] = Math.round(data[s * 784 + k] * 255);
    const y = index.get(Buffer.from(px).toString('latin1'));
    if (y === undefined) throw new Error(`calib image ${s} is not in the Fashion-MNIST training set`);
    out[s] = BigInt(y);
  }
  return out;
}
