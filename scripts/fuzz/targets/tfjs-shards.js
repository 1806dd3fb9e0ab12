'use strict';
/** tfjs weight shards: byte sizes that disagree with the manifest, spanning shards, string length prefixes. */
const path = require('path');
const { dist, checkModel } = require('./common');
const t = require('./tfjs-build');
const { mutateBytes } = require('../mutate');

function seeds() {
  return [t.graphModel(), t.layersModel()];
}

/** Mutates a shard file, not model.json (run.js's byte mutations may still hit model.json now and then). */
function structured(r, input) {
  const shards = Object.keys(input.files).filter((n) => n.endsWith('.bin'));
  const name = r.pick(shards);
  let b = input.files[name];
  if (r.chance(0.5)) b = b.slice(0, r.int(b.length + 1));
  else if (r.chance(0.3)) b = new Uint8Array([...b, ...new Uint8Array(1 + r.int(64))]);
  else for (let k = 1 + r.small(4); k > 0; k--) b = mutateBytes(r, b);
  return { main: input.main, files: { ...input.files, [name]: b } };
}

function run(dir, main) {
  const { loadTfjs } = dist('formats/tfjs');
  checkModel(loadTfjs(path.join(dir, main)));
}

module.exports = { seeds, structured, run };
