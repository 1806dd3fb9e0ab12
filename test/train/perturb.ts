/** Test helper for the QAT tests: weights training could have reached, not the ones the fixtures shipped. */
import type { Model } from '../../src/ir';
import { mulberry32 } from '../../src/util/prng';

/** Every float32 initializer scaled by (1 + 0.2·u), u uniform in [−1, 1), seeded. */
export function perturb(model: Model, seed: number): void {
  const r = mulberry32(seed);
  for (const v of model.graph.initializers) {
    const t = v.const!;
    if (t.dtype !== 'float32') continue;
    const w = Float32Array.from(t.toFloat32(), (x) => x * (1 + 0.2 * (2 * r() - 1)));
    t.setData('float32', [...t.shape], { kind: 'bytes', bytes: new Uint8Array(w.buffer) });
  }
}
