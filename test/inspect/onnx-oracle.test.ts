/**
 * mc's inspect report against the reference `onnx` Python package, over the
 * real models of ONNX's backend test data: parameter counts, op histograms
 * (subgraphs included) and input/output shapes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { inspectPath } from '../../src/inspect';
import { onnxOracle } from '../helpers/cli-onnx-oracle';
import { requireDep, requirePython } from '../helpers/require-dep';

const DATA = '/usr/share/libonnx-testdata/data';
const testdata = requireDep('onnx-testdata', fs.existsSync(DATA), `${DATA} is missing (apt-get install libonnx-testdata)`);
const onnx = requirePython('python-onnx', ['onnx'], 'python3-onnx');
const models = !testdata.run ? [] : ['pytorch-converted', 'pytorch-operator', 'simple']
  .flatMap((d) => fs.readdirSync(path.join(DATA, d)).map((m) => path.join(DATA, d, m, 'model.onnx')))
  // node tests with subgraphs (If/Loop/Scan) exercise the recursion
  .concat(['test_if', 'test_loop11', 'test_scan9_sum', 'test_if_seq', 'test_range_float_type_positive_delta_expanded']
    .map((m) => path.join(DATA, 'node', m, 'model.onnx')))
  .filter((f) => fs.existsSync(f))
  .sort();

(testdata.run ? onnx : testdata).describe('mc inspect vs the onnx reference reader', () => {
  const oracle = onnxOracle(models);

  it('covers a real corpus', () => {
    expect(models.length).toBeGreaterThan(120);
    expect(oracle.filter((o) => o.floatParameters > 0).length).toBeGreaterThan(45);
    expect(oracle.filter((o) => o.inputs.some((i) => i.shape?.some((d) => typeof d === 'string'))).length).toBeGreaterThan(0);
  });

  it.each(models.map((m, i) => [path.relative(DATA, m), i] as const))('%s', (_name, i) => {
    const r = inspectPath(models[i]);
    const want = oracle[i];
    // These models hold no integer weights, so parameters = float constant elements (initializers and Constant nodes).
    expect(r.parameters).toBe(want.floatParameters);
    const ops: Record<string, number> = {};
    for (const o of r.opTypes) ops[o.domain ? `${o.domain}.${o.opType}` : o.opType] = o.count;
    expect(ops).toEqual(want.ops);
    expect(r.nodeCount).toBe(Object.values(want.ops).reduce((a, b) => a + b, 0));
    expect(r.inputs.map((v) => ({ name: v.name, shape: v.shape }))).toEqual(want.inputs);
    expect(r.outputs.map((v) => ({ name: v.name, shape: v.shape }))).toEqual(want.outputs);
    expect(r.totalFileBytes).toBe(fs.statSync(models[i]).size);
  });
});
