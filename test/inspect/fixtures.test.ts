/**
 * `mc inspect --json` (the built binary) on every shipped fixture, checked
 * against independent numbers: fixtures/manifest.json's parameter count (from
 * layer shapes), stock tfjs `countParams()`, the onnx Python reader's op
 * histogram, and the op/layer lists read straight from model.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { tfjsFileHandler } from '../../src/formats/tfjs/file-io';
import type { InspectReport } from '../../src/inspect';
import { ROOT, runMc } from '../helpers/cli-run';
import { onnxOracle } from '../helpers/cli-onnx-oracle';

interface FixtureModel {
  params: number;
  input: { onnx: { shape: (number | string)[] }; tfjs: { shape: number[] } };
  output: { shape: (number | string)[] };
  /** Per format: `params` differs where the format folds layers (the graph-model folds BatchNorm into its Conv). */
  formats: Record<string, { path: string; params: number }>;
}

const FIXTURES = path.join(ROOT, 'fixtures');
const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as { models: Record<string, FixtureModel> };
const cases = Object.entries(manifest.models).flatMap(([name, m]) =>
  Object.entries(m.formats).map(([format, f]) => ({ name, format, file: path.join(FIXTURES, f.path), model: m, params: f.params })));

function inspectJson(file: string): InspectReport {
  const r = runMc(['inspect', file, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as InspectReport;
}

function histogram(r: InspectReport): Record<string, number> {
  const h: Record<string, number> = {};
  for (const o of r.opTypes) h[o.domain && r.format === 'onnx' ? `${o.domain}.${o.opType}` : o.opType] = o.count;
  return h;
}

function count(names: string[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of names) h[n] = (h[n] ?? 0) + 1;
  return h;
}

describe('mc inspect on the shipped fixtures', () => {
  it('covers every model in every format', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
    expect(new Set(cases.map((c) => c.format))).toEqual(new Set(['onnx', 'tfjs-layers', 'tfjs-graph']));
  });

  it.each(cases.map((c) => [`${c.name} ${c.format}`, c] as const))('%s', async (_label, c) => {
    const r = inspectJson(c.file);
    expect(r.format).toBe(c.format);
    expect(r.parameters).toBe(c.params);
    expect(r.files.length).toBeGreaterThanOrEqual(1);
    expect(r.totalFileBytes).toBe(r.files.reduce((s, f) => s + f.bytes, 0));
    // float32 weights: 4 bytes per parameter are stored.
    expect(r.bytesByDtype.find((d) => d.dtype === 'float32')?.elements).toBe(c.params);

    if (c.format === 'onnx') {
      const [want] = onnxOracle([c.file]);
      expect(want.floatParameters).toBe(c.params);
      expect(histogram(r)).toEqual(want.ops);
      expect(r.inputs.map((i) => i.shape)).toEqual([c.model.input.onnx.shape]);
      expect(r.outputs.map((o) => o.shape)).toEqual([c.model.output.shape]);
      return;
    }
    const json = JSON.parse(fs.readFileSync(c.file, 'utf8'));
    expect(r.inputs.map((i) => i.shape)).toEqual([c.model.input.tfjs.shape.map((d) => (d < 0 ? null : d))]);
    if (c.format === 'tfjs-layers') {
      // Keras writes {model_config: {class_name, config}}; tfjs's model.save writes {class_name, config}.
      const topology = json.modelTopology.model_config ?? json.modelTopology;
      const layers = topology.config.layers as { class_name: string }[];
      expect(histogram(r)).toEqual(count(layers.map((l) => l.class_name).filter((n) => n !== 'InputLayer')));
      await tf.setBackend('cpu');
      const stock = await tf.loadLayersModel(tfjsFileHandler(c.file));
      expect(r.parameters).toBe(stock.countParams());
      stock.dispose();
    } else {
      // Independent count: the layers model's, less what folding removes. The graph-model folds
      // each BatchNorm's four [C] vectors (gamma, beta, moving mean and variance) into one [C] bias.
      const layers = manifest.models[c.name].formats['tfjs-layers'];
      const layersJson = JSON.parse(fs.readFileSync(path.join(FIXTURES, layers.path), 'utf8'));
      const gammas = (layersJson.weightsManifest as { weights: { name: string; shape: number[] }[] }[])
        .flatMap((g) => g.weights).filter((w) => w.name.endsWith('/gamma'));
      expect(c.params).toBe(layers.params - 3 * gammas.reduce((s2, w) => s2 + w.shape[0], 0));
      const nodes = json.modelTopology.node as { op: string }[];
      expect(histogram(r)).toEqual(count(nodes.map((n) => n.op).filter((op) => op !== 'Const' && op !== 'Placeholder')));
    }
  });
});

