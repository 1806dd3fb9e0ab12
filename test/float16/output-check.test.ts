/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 *
 * fp16 conversion compares the result with its source in onnxruntime (with --keep-io-types): an output
 * that turns infinite or NaN, or falls under 40 dB, makes the command refuse it (exit 1, nothing
 * written) instead of writing a model that opens but computes nonsense.
 */
import * as fs from 'fs';
import * as path from 'path';
import { saveOnnx } from '../../src/formats/onnx';
import { Graph, Node, Tensor, Value } from '../../src/ir';
import { runMc, tempDir } from '../helpers/cli-run';
import { onnxModel } from '../quantize/helpers';

/**
 * y = log(relu(x − 2) + 1e-10): relu is 0 for x in [0, 1), so y = log(1e-10) ≈ −23 in float32; 1e-10 is
 * below float16's smallest subnormal (6e-8), becomes 0, and the float16 model gives log(0) = −∞, the way
 * openWakeWord's melspectrogram turned NaN (its log epsilon). onnxruntime's CPU provider computes most
 * float16 ops in float32, so overflow alone does not show there; a flushed constant does.
 */
function flushing() {
  const g = new Graph();
  const x = new Value('x', { dtype: 'float32', shape: ['N', 64] });
  g.inputs.push(x);
  const two = g.addInitializer('two', Tensor.fromArray('float32', [], Float32Array.of(2), 'two'));
  const eps = g.addInitializer('eps', Tensor.fromArray('float32', [], Float32Array.of(1e-10), 'eps'));
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Value(n, { dtype: 'float32' }));
  const y = new Value('y', { dtype: 'float32', shape: ['N', 64] });
  g.addNode(new Node({ opType: 'Sub', name: 'shift', inputs: [x, two], outputs: [a] }));
  g.addNode(new Node({ opType: 'Relu', name: 'relu', inputs: [a], outputs: [b] }));
  g.addNode(new Node({ opType: 'Add', name: 'eps_add', inputs: [b, eps], outputs: [c] }));
  g.addNode(new Node({ opType: 'Log', name: 'log', inputs: [c], outputs: [y] }));
  g.outputs.push(y);
  return onnxModel(g);
}

describe('mc convert --dtype fp16 checks the outputs', () => {
  const dir = tempDir('mc-fp16-check-');
  const model = path.join(dir, 'm.onnx');
  beforeAll(() => saveOnnx(flushing(), model));

  test('an output that turns infinite in float16 is refused with exit 1 and nothing written', () => {
    const out = path.join(dir, 'm16.onnx');
    const r = runMc(['convert', model, '--dtype', 'fp16', '--keep-io-types', '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mc: .*m\.onnx: float16 outputs miss 40 dB against the source in onnxruntime on 4 seeded synthetic sample\(s\).*: y NaN or infinite .*nothing written$/m);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('--no-output-check writes it; --fp16-block-ops Add,Log keeps the epsilon and the log float32 and the check passes', () => {
    const a = runMc(['convert', model, '--dtype', 'fp16', '--keep-io-types', '--no-output-check', '-o', path.join(dir, 'unchecked.onnx')]);
    expect(a.code).toBe(0);
    const b = runMc(['convert', model, '--dtype', 'fp16', '--keep-io-types', '--fp16-block-ops', 'Add,Log', '-o', path.join(dir, 'blocked.onnx'), '--json']);
    expect(b.code).toBe(0);
    const rows = (JSON.parse(b.stdout) as { outputs: { rows: { name: string; sqnrDb: number }[] } }).outputs.rows;
    expect(rows.map((x) => x.name)).toEqual(['y']);
    // Relu's zeros are exact in float16 and the epsilon and log stay float32: the outputs are identical (null).
    expect(rows[0].sqnrDb).toBeNull();
  });
});
