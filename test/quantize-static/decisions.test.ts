/**
 * Per-model decisions of static int8 (src/pipeline/static-decisions.ts): timed
 * by default, reported with the times and the option value that pins them, and
 * a run with that value reproduces the timed run's model byte for byte.
 */
import * as path from 'path';
import { UsageError } from '../../src/errors';
import { encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import type { StaticQuantizeOptions } from '../../src/passes/quantize/static';
import { quantizeStaticModel } from '../../src/pipeline/static';
import { parseSmallLayers } from '../../src/cli/commands/quantize-static';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
const CALIB = path.join(FIX, 'calib-x.npy');

async function quantize(model: string, o: Partial<StaticQuantizeOptions>) {
  const m = loadOnnx(path.join(FIX, model));
  const report = await quantizeStaticModel(m, { samples: 64, ...o }, { data: CALIB });
  return { model: m, bytes: Buffer.from(encodeOnnx(m)), report };
}

test.each(['cnn.onnx', 'mlp.onnx'])('%s: small layers are timed, reported, and the printed pin reproduces the model', async (file) => {
  const timed = await quantize(file, {});
  const d = timed.report.decisions!.smallLayers;
  expect(d.how).toBe('measured');
  expect(d.layers.length).toBeGreaterThan(0);
  for (const l of d.layers) {
    expect(l.floatMs).toBeGreaterThan(0);
    expect(l.int8Ms).toBeGreaterThan(0);
    expect(l.int8).toBe(l.int8Ms! < l.floatMs!); // the decision is the timing's
    const skip = timed.report.skipped.find((s) => s.node === l.node);
    if (l.int8) expect(skip).toBeUndefined();
    else expect(skip?.reason).toMatch(/^small layer: int8 does not pay here \(alone at input [0-9×]+: .* ms in QDQ int8 vs .* ms in float/);
  }
  const floats = d.layers.filter((l) => !l.int8).map((l) => l.node);
  expect(d.pin).toBe(floats.length ? floats.join(',') : 'int8');
  const pinned = await quantize(file, { smallLayers: parseSmallLayers(d.pin) });
  expect(pinned.report.decisions!.smallLayers.how).toBe(floats.length ? 'pinned' : 'int8');
  expect(Buffer.compare(pinned.bytes, timed.bytes)).toBe(0);
  console.log(`${file}: ${d.layers.map((l) => `${l.node} ${l.int8 ? 'int8' : 'float'} (${l.int8Ms!.toFixed(3)} int8 vs ${l.floatMs!.toFixed(3)} float ms at ${l.shape})`).join(', ')}`);
}, 120000);

test('--small-layers int8 keeps nothing float; a name that is not a candidate is a usage error', async () => {
  const all = await quantize('cnn.onnx', { smallLayers: 'int8' });
  expect(all.report.skipped.filter((s) => /small layer|kept float/.test(s.reason))).toEqual([]);
  expect(all.report.quantizedNodes.map((n) => n.name)).toEqual(expect.arrayContaining(['fc1/Gemm', 'logits/Gemm']));
  await expect(quantize('cnn.onnx', { smallLayers: ['conv1/Conv'] })).rejects.toThrow(UsageError);
  await expect(quantize('cnn.onnx', { smallLayers: ['conv1/Conv'] })).rejects.toThrow(/--small-layers names 'conv1\/Conv', not a MatMul\/Gemm .*candidates: fc1\/Gemm, logits\/Gemm/);
});

test('space-to-depth: timed on this model where the target allows it, and the pin reproduces the model', async () => {
  const o: Partial<StaticQuantizeOptions> = { target: 'avx512-vnni', smallLayers: ['fc1/Gemm', 'logits/Gemm'] };
  const timed = await quantize('cnn.onnx', o);
  const d = timed.report.decisions!.spaceToDepth;
  expect(d.how).toBe('measured');
  expect(d.applied).toBe(d.rewrittenMs! < d.plainMs!);
  expect(timed.model.graph.nodes.some((n) => n.opType === 'SpaceToDepth')).toBe(d.applied);
  const pinned = await quantize('cnn.onnx', { ...o, spaceToDepthPooling: d.pin === 'on' });
  expect(Buffer.compare(pinned.bytes, timed.bytes)).toBe(0);
  // portable leaves the rewrite out without timing it
  const portable = await quantize('cnn.onnx', { smallLayers: ['fc1/Gemm', 'logits/Gemm'] });
  expect(portable.report.decisions!.spaceToDepth).toEqual({ how: 'target', applied: false, pin: 'off' });
  console.log(`space-to-depth on the fixture CNN: ${d.rewrittenMs!.toFixed(3)} ms with, ${d.plainMs!.toFixed(3)} ms without → ${d.applied ? 'applied' : 'not applied'}`);
}, 120000);
