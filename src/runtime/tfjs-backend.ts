/**
 * Picks the fastest tfjs backend this machine can run, once per process:
 * tfjs-node when it is installed (it needs libtensorflow, so often it is not),
 * else the WebAssembly backend (its .wasm files ship in the npm package; about
 * 30× the pure-JS cpu backend on matmul), else 'cpu'.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

let ready: Promise<string> | undefined;

function tryRequire(id: string): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(id);
    return true;
  } catch {
    return false;
  }
}

async function pick(): Promise<string> {
  if (tryRequire('@tensorflow/tfjs-node') && (await tf.setBackend('tensorflow').catch(() => false))) return 'tensorflow';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    // Point the loader at the package's own .wasm files (default lookup is relative to a web page).
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dist + path.sep);
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return 'wasm';
    }
  } catch {
    // fall through to cpu
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return 'cpu';
}

/** Initialises tfjs and returns the backend name ('tensorflow', 'wasm' or 'cpu'). Safe to call many times. */
export function initTfjs(): Promise<string> {
  ready ??= pick();
  return ready;
}
