/** The memory check names the layer and the bytes. */
import { UnsupportedError } from '../../src/errors';
import { checkReconstructionMemory, hessianBytes, reconstructionBytes } from '../../src/passes/reconstruct';

test('a layer over the limit is an UnsupportedError naming it and the bytes', () => {
  expect(hessianBytes(4096)).toBe(128 * 2 ** 20);
  const need = Math.round(reconstructionBytes(50000, 4096) / 2 ** 20);
  expect(() => checkReconstructionMemory('lm_head', 50000, 4096, 2 ** 30)).toThrow(UnsupportedError);
  expect(() => checkReconstructionMemory('lm_head', 50000, 4096, 2 ** 30)).toThrow(
    `layer 'lm_head' needs ${need} MiB for GPTQ/SparseGPT (float64 H of 4096×4096 inputs: 128 MiB, twice, plus W [50000, 4096]), over the 1024 MiB allowed`,
  );
  expect(() => checkReconstructionMemory('fc', 64, 256, 2 ** 30)).not.toThrow();
});
