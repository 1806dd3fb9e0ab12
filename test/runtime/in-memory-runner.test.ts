/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * openRunner on a Model in memory (ONNX bytes, tfjs artifacts) runs what the
 * runtime runs from the files: the same inputs, outputs and output values on a
 * batch of the eval images, for every fixture format.
 */
import * as path from 'path';
import { openDataset } from '../../src/data';
import { loadModel } from '../../src/formats';
import { openRunner, type HostTensor } from '../../src/runtime';
import { inputSpecs } from '../../src/eval/inputs';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');

test.each(['cnn.onnx', 'mlp.onnx', 'cnn-graph', 'cnn-layers', 'mlp-graph', 'mlp-layers'])('%s: in memory and from its files give the same outputs', async (f) => {
  const file = path.join(FIX, f);
  const fromFile = await openRunner(file);
  const inMemory = await openRunner(loadModel(file), { label: f });
  try {
    expect(inMemory.inputs).toEqual(fromFile.inputs);
    expect(inMemory.outputs).toEqual(fromFile.outputs);
    const ds = openDataset(path.join(FIX, 'eval-x.npy'), { inputs: inputSpecs(fromFile) });
    let batch: Map<string, HostTensor> | undefined;
    for (const b of ds.batches(16, 16)) batch = new Map([...b.inputs].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }]));
    const a = await fromFile.run(batch!);
    const b = await inMemory.run(batch!);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) {
      expect(b.get(k)!.shape).toEqual(t.shape);
      expect(Array.from(b.get(k)!.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
      expect((t.data as Float32Array).some((x) => x !== 0)).toBe(true);
    }
  } finally {
    await fromFile.dispose();
    await inMemory.dispose();
  }
});
