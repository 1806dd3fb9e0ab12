'use strict';
/** .npy arrays: openNpy, then every batch read (src/data/npy.ts, array-source.ts). */
const path = require('path');
const { dist } = require('./common');
const n = require('./npy-build');

function seeds() {
  return n.seedArrays().map((a) => ({ main: 'x.npy', files: { 'x.npy': a } }));
}

function structured(r, input) {
  return { ...input, files: { [input.main]: n.hostileArray(r) } };
}

function readAll(ds) {
  ds.describe();
  let rows = 0;
  for (const batch of ds.batches(2)) {
    for (const t of batch.inputs.values()) {
      const per = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== per) throw new Error(`batch of ${t.data.length} elements for shape [${t.shape}]`);
    }
    rows += batch.count;
  }
  if (rows !== ds.count) throw new Error(`read ${rows} samples of ${ds.count}`);
}

function run(dir, main) {
  const { openNpy } = dist('data/open-arrays');
  readAll(openNpy(path.join(dir, main)));
}

module.exports = { seeds, structured, run, readAll };
