/**
 * Jest environment for tests that read onnxruntime-node outputs.
 * onnxruntime-node builds output tensors from typed arrays created by its
 * native addon in Node's main realm, and onnxruntime-common then checks them
 * with `instanceof` against the sandbox's constructors, which fails under
 * jest's per-file vm context ("A float32 tensor's data must be type of
 * Float32Array"). Sharing the main realm's typed-array constructors fixes it.
 * Use with a `@jest-environment ./test/helpers/onnx-ort-environment.js` docblock.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView',
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) if (globalThis[name]) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
