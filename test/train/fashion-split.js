'use strict';
/**
 * Writes a Fashion-MNIST training split for fine-tuning tests, built at test time from
 * Debian's dataset-fashion-mnist (never committed): images order[256, 256 + n) of the
 * fixtures' own seeded permutation of the 60k training set (scripts/fixtures/generate.js
 * loadData: calibration = order[0, 256), training = order[256, 20256), eval = the first
 * 1000 t10k images), so the split is inside the fixtures' training data and disjoint
 * from calib-x.npy and eval-x.npy. Pixels / 255 as float32 [n, 1, 28, 28] (the fixtures'
 * preprocessing), labels int64 [n].
 *
 *   node test/train/fashion-split.js <dir> [n=10000]   → <dir>/train-x.npy, <dir>/train-y.npy
 */
const fs = require('fs');
const path = require('path');
const { loadFashionMnist } = require('../../scripts/fixtures/idx');
const { mulberry32, permutation } = require('../../scripts/fixtures/prng');
const { encodeNpy } = require('../../scripts/fixtures/npy');

const DATA_DIR = '/usr/share/datasets/fashion-mnist';
const FIXTURE_SEED = 20261129;
const CALIB_COUNT = 256;

function available() {
  return fs.existsSync(path.join(DATA_DIR, 'train-images-idx3-ubyte.gz'));
}

function writeTrainSplit(dir, n = 10000, offset = 0) {
  if (n + offset > 20000) throw new Error('the fixtures trained on 20,000 images; a split stays inside them');
  const set = loadFashionMnist(DATA_DIR, 'train');
  const order = permutation(set.count, mulberry32(FIXTURE_SEED));
  const idx = Array.from(order.subarray(CALIB_COUNT + offset, CALIB_COUNT + offset + n));
  const x = new Float32Array(n * 784);
  idx.forEach((src, i) => {
    for (let p = 0; p < 784; p++) x[i * 784 + p] = set.pixels[src * 784 + p] / 255;
  });
  const y = BigInt64Array.from(idx, (i) => BigInt(set.labels[i]));
  fs.mkdirSync(dir, { recursive: true });
  const files = { x: path.join(dir, 'train-x.npy'), y: path.join(dir, 'train-y.npy') };
  fs.writeFileSync(files.x, encodeNpy(x, [n, 1, 28, 28]));
  fs.writeFileSync(files.y, encodeNpy(y, [n]));
  return { ...files, indices: idx };
}

/**
 * All 10,000 Fashion-MNIST test images (t10k; the eval set is their first 1,000), pixels / 255
 * as float32 [10000 * 784], and their labels: a judge ten times as precise as the eval set
 * (one standard error of a top-1 near 89% is about 0.3 points here, 1 point there).
 */
function testSet() {
  const set = loadFashionMnist(DATA_DIR, 't10k');
  return { x: Float32Array.from(set.pixels, (p) => p / 255), y: Int32Array.from(set.labels) };
}

module.exports = { available, writeTrainSplit, testSet, DATA_DIR };

if (require.main === module) {
  const [dir, n] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node test/train/fashion-split.js <dir> [n]');
    process.exit(2);
  }
  const r = writeTrainSplit(dir, n ? Number(n) : 10000);
  console.log(`wrote ${r.x} and ${r.y}`);
}
