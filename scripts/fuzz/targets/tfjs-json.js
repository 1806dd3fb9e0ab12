'use strict';
/** tfjs model.json (graph-model and layers-model) with its weightsManifest: loadTfjs, then every tensor checked and read. */
const path = require('path');
const { dist, checkModel, u8 } = require('./common');
const t = require('./tfjs-build');

function seeds() {
  return [t.graphModel(), t.layersModel()];
}

function structured(r, input) {
  let json;
  try {
    json = JSON.parse(Buffer.from(input.files[input.main]).toString('utf8'));
  } catch {
    return input;
  }
  for (let k = 1 + r.small(3); k > 0; k--) t.editJson(r, json);
  return { ...input, files: { ...input.files, [input.main]: u8(t.jsonText(json)) } };
}

function run(dir, main) {
  const { loadTfjs } = dist('formats/tfjs');
  checkModel(loadTfjs(path.join(dir, main)));
}

module.exports = { seeds, structured, run };
