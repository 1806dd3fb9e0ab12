'use strict';
/** The parsers the fuzzer covers, by name; each module exports { seeds(), structured?(r, input), run(dir, main) }. */
const TARGETS = ['onnx', 'onnx-external', 'onnx-pb', 'tfjs-json', 'tfjs-shards', 'npy', 'npz', 'image', 'recipe'];

const FILES = {
  onnx: './onnx', 'onnx-external': './onnx-external', 'onnx-pb': './onnx-pb',
  'tfjs-json': './tfjs-json', 'tfjs-shards': './tfjs-shards', npy: './npy', npz: './npz', image: './image', recipe: './recipe', selftest: './selftest',
};

function loadTarget(name) {
  if (!FILES[name]) throw new Error(`unknown parser '${name}'`);
  return require(FILES[name]);
}

module.exports = { TARGETS, loadTarget };
