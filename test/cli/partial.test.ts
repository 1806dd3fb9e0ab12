/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * No silent success (issue 10 §3), through the built binary: a run that
 * quantizes nothing, or less than 90% of the weight bytes mc could take, writes
 * nothing and exits 2 with a one-line summary and one line per weight;
 * --allow-partial writes it with a warning, and the JSON report lists each weight.
 */
import * as fs from 'fs';
import * as path from 'path';
import { saveOnnx } from '../../src/formats/onnx';
import { Graph, Node, Tensor, Value } from '../../src/ir';
import { runMc, tempDir } from '../helpers/cli-run';
import { onnxModel, randomFloats } from '../quantize/helpers';
import { npyHeader } from '../data/helpers';

/** x[2,4096] · w[4096] (Mul: no weight role) then MatMul by a small [4096,1] column (a weight below --min-elements' share). */
function unquantizable() {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: [2, 4096] });
  g.inputs.push(x);
  const w = g.addInitializer('gain', Tensor.fromArray('float32', [4096], randomFloats(4096, 1), 'gain'));
  const col = g.addInitializer('col', Tensor.fromArray('float32', [4096, 1], randomFloats(4096, 2), 'col'));
  const h = new Value('h', { dtype: 'float32' });
  const y = new Value('y', { dtype: 'float32', shape: [2, 1] });
  g.addNode(new Node({ opType: 'Mul', name: 'scale', inputs: [x, w], outputs: [h] }));
  g.addNode(new Node({ opType: 'MatMul', name: 'fc', inputs: [h, col], outputs: [y] }));
  g.outputs.push(y);
  return onnxModel(g);
}

describe('mc quantize never succeeds silently', () => {
  const dir = tempDir('mc-partial-');
  const model = path.join(dir, 'model.onnx');
  const out = path.join(dir, 'out.onnx');
  beforeAll(() => saveOnnx(unquantizable(), model));

  test('a run that takes half the weight bytes exits 2, names each weight left and why, and writes nothing', () => {
    const r = runMc(['quantize', model, '--bits', '8', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mc: {3}gain: no supported weight role: read by Mul$/m);
    expect(r.stderr).toMatch(/^mc: .*model\.onnx: quantized 1 weight\(s\), 50% of the float weight bytes mc could take \(needs 90%\); left in float: 1 no supported weight role; nothing written \(--allow-partial writes it anyway\)$/m);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a run that quantizes nothing at all exits 2 too', () => {
    const r = runMc(['quantize', model, '--bits', '8', '-o', out, '--exclude', 'col']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/quantized no weight \(2 left in float: .*1 no supported weight role.*1 excluded|quantized no weight \(2 left in float: .*1 excluded.*1 no supported weight role/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('--allow-partial writes it, warns, and the JSON report lists every weight left in float with its kind and bytes', () => {
    const r = runMc(['quantize', model, '--bits', '8', '-o', out, '--allow-partial', '--json', '--no-output-check']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.report.tensors.map((t: { name: string }) => t.name)).toEqual(['col']);
    expect(j.report.skipped).toEqual([{ name: 'gain', kind: 'role', reason: 'no supported weight role: read by Mul', bytes: 4096 * 4 }]);
    expect(j.report.coverage).toEqual({ compressedBytes: 4096 * 4, missedBytes: 4096 * 4, fraction: 0.5 });
    expect(j.report.warnings.some((w: string) => w.startsWith('partial: quantized 1 weight(s), 50%'))).toBe(true);
    expect(fs.existsSync(out)).toBe(true);
  });
});

describe('prune: less than 90% of the requested fraction is a shortfall', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { pruneShortfall } = require('../../src/pipeline/prune') as typeof import('../../src/pipeline/prune');
  const base = { criterion: 'magnitude', pattern: 'channel', scope: 'layer', targetSparsity: 0.25, layers: [{}], skipped: [], globalSparsity: 0.4 } as never as Parameters<typeof pruneShortfall>[0];
  const at = (achieved: number) => ({ ...base, channelFraction: { requested: 0.25, achieved, removed: 0, channels: 0 }, groups: [{ layers: ['a', 'b'], channels: 8, removed: 0, reasons: ['cannot map channels through Reshape'] }] });

  test('channels: 0.9 × requested passes, just under fails with each group reason', () => {
    expect(pruneShortfall(at(0.225))).toBeNull();
    const s = pruneShortfall(at(0.2249))!;
    expect(s.summary).toBe('pruned 22.5% of the channels, under 90% of the requested 25.0%');
    expect(s.details).toEqual(['group a + b: cannot map channels through Reshape']);
  });

  test('no layer pruned is a shortfall whatever the fraction', () => {
    const s = pruneShortfall({ ...base, layers: [], skipped: [{ layer: 'conv', reason: 'excluded' }] })!;
    expect(s.summary).toMatch(/^pruned no layer \(1 skipped: conv: excluded\)$/);
  });
});

describe('static int8 that quantizes no node', () => {
  const dir = tempDir('mc-partial-static-');
  const model = path.join(dir, 'sig.onnx');
  const calib = path.join(dir, 'calib.npy');
  const out = path.join(dir, 'out.onnx');
  beforeAll(() => {
    const g = new Graph();
    const x = new Value('x', { dtype: 'float32', shape: ['N', 8] });
    g.inputs.push(x);
    const y = new Value('y', { dtype: 'float32', shape: ['N', 8] });
    g.addNode(new Node({ opType: 'Sigmoid', name: 'sig', inputs: [x], outputs: [y] }));
    g.outputs.push(y);
    saveOnnx(onnxModel(g), model);
    const data = randomFloats(4 * 8, 3);
    fs.writeFileSync(calib, Buffer.concat([npyHeader('<f4', [4, 8]), Buffer.from(data.buffer)]));
  });

  test('exits 2 and writes nothing; --allow-partial writes it with a warning', () => {
    const r = runMc(['quantize', model, '--calib', calib, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mc: .*sig\.onnx: static int8 quantized no node \(\d+ left in float\); nothing written \(--allow-partial writes it anyway\)$/m);
    expect(fs.existsSync(out)).toBe(false);
    const ok = runMc(['quantize', model, '--calib', calib, '-o', out, '--allow-partial', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).report.warnings).toContain('partial: static int8 quantized no node (' + JSON.parse(ok.stdout).report.skipped.length + ' left in float)');
    expect(fs.existsSync(out)).toBe(true);
  });
});
