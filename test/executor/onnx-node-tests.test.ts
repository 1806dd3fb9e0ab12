/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
/**
 * Forward conformance of the differentiable executor on ONNX's backend test data
 * (libonnx-testdata, ONNX 1.12): every node test whose ops the executor implements
 * runs on test_data_set_0 and must match both the expected outputs and
 * onnxruntime-node to 1e-4 relative error (plus 1e-5 absolute, for values near 0).
 *
 * Only onnxruntime's own failures (the reference) and cases the executor declares it
 * cannot take (unsupported ops, dtypes, non-tensor inputs) are skips; an exception from
 * mc's code (decoding the model or its .pb tensors, converting them) is a failure. The
 * skips are listed with their reasons in expected-skips.json, and the test fails when the
 * set changes: a new skip, or a listed one that now runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { decodeOnnx, decodeTensorProto } from '../../src/formats/onnx';
import type { Tensor } from '../../src/ir';
import { Executor, irToTf, unsupportedOps, useGradientBackend } from '../../src/runtime/executor';
import { toOrtTensor } from '../helpers/onnx-ort';
import { requireDep } from '../helpers/require-dep';
import EXPECTED_SKIPS from './expected-skips.json';

const ROOT = path.join(process.env.MC_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data', 'node');
const RTOL = 1e-4;
const ATOL = 1e-5;

/** The op families the executor covers; a test is picked when all its ops are supported. */
const FAMILIES = /^test_(conv|gemm|matmul|add|sub|mul|div|relu|clip|leakyrelu|sigmoid|hardsigmoid|hardswish|tanh|softmax|logsoftmax|batchnorm|maxpool|averagepool|globalaveragepool|globalmaxpool|flatten|reshape|transpose|concat|split|slice|gather|squeeze|unsqueeze|reduce_mean|reduce_sum|reduce_max|reduce_min|pow|sqrt|erf|layer_normalization|identity|constant|shape|cast|pad|edge_pad|reflect_pad|constant_pad|expand|exp|log|neg|abs|reciprocal|size|max_|min_|sum_|mean_|resize_upsample_scales_linear|resize_upsample_scales_nearest$)/;

const ORT_TYPES: Partial<Record<Tensor['dtype'], ort.Tensor.Type>> = {
  float32: 'float32', float64: 'float64', int32: 'int32', int64: 'int64', int8: 'int8', uint8: 'uint8', int16: 'int16', uint16: 'uint16', bool: 'bool',
};

interface Case { name: string; dir: string }

const testdata = requireDep('onnx-testdata', fs.existsSync(ROOT), `${ROOT} is missing (apt-get install libonnx-testdata)`);

function cases(): Case[] {
  return fs.readdirSync(ROOT).filter((n) => FAMILIES.test(n)).sort().map((name) => ({ name, dir: path.join(ROOT, name) }));
}

function readPbs(dir: string, prefix: string): Tensor[] {
  const set = path.join(dir, 'test_data_set_0');
  const files = fs.readdirSync(set).filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)));
  return files.map((f) => decodeTensorProto(fs.readFileSync(path.join(set, f)), f));
}

function worstError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = Number(got[i]);
    const w = Number(want[i]);
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (w === g) continue;
    worst = Math.max(worst, Math.abs(g - w) / (RTOL * Math.abs(w) + ATOL));
  }
  return worst; // <= 1 means within tolerance
}

const numbers = (t: Tensor): number[] => Array.from(t.typed() as ArrayLike<number | bigint>, Number);

interface Outcome { status: 'pass' | 'skip' | 'fail'; why?: string }

/** A graph input or output whose type is not a tensor (sequence, map, optional). */
const nonTensor = (v: { typeExtra?: unknown }): boolean => v.typeExtra !== undefined && !(v.typeExtra as { tensor_type?: unknown }).tensor_type;

/** Runs one case. Anything mc's code throws propagates: the caller records it as a failure. */
async function runCase(c: Case): Promise<Outcome> {
  const model = decodeOnnx(fs.readFileSync(path.join(c.dir, 'model.onnx')));
  const unsupported = unsupportedOps(model);
  if (unsupported.length) return { status: 'skip', why: `ops ${unsupported.join(',')}` };
  if ([...model.graph.inputs, ...model.graph.outputs].some(nonTensor)) return { status: 'skip', why: 'non-tensor input or output (sequence/optional)' };
  const inputs = readPbs(c.dir, 'input_');
  const expected = readPbs(c.dir, 'output_');
  const feedable = model.graph.inputs.filter((v) => !v.const);
  const untyped = [...new Set([...inputs, ...expected].map((t) => t.dtype).filter((d) => !ORT_TYPES[d]))];
  if (untyped.length) return { status: 'skip', why: `dtype ${untyped.join(',')}` };
  // ORT reference: its failures (a missing kernel or type) are skips, listed in expected-skips.json.
  let ortOut: ort.InferenceSession.OnnxValueMapType;
  try {
    const session = await ort.InferenceSession.create(fs.readFileSync(path.join(c.dir, 'model.onnx')));
    const ortFeeds: Record<string, ort.Tensor> = {};
    feedable.forEach((v, i) => (ortFeeds[v.name] = toOrtTensor(inputs[i])));
    ortOut = await session.run(ortFeeds);
  } catch (e) {
    return { status: 'skip', why: `reference failed: ${(e as Error).message.split('\n')[0]}` };
  }
  // executor
  const feeds: Record<string, tf.Tensor> = {};
  feedable.forEach((v, i) => (feeds[v.name] = irToTf(tf, inputs[i])));
  let outs: tf.Tensor[];
  const ex = new Executor(model, tf);
  try {
    outs = ex.run(feeds);
  } catch (e) {
    return { status: 'fail', why: `threw: ${(e as Error).message}` };
  } finally {
    ex.dispose();
    tf.dispose(Object.values(feeds));
  }
  try {
    for (let k = 0; k < expected.length; k++) {
      const got = outs[k];
      const want = expected[k];
      const ref = ortOut[model.graph.outputs[k].name];
      if (got.shape.join() !== want.shape.join()) return { status: 'fail', why: `output ${k} shape ${got.shape} vs ${want.shape}` };
      const g = got.dataSync() as ArrayLike<number>;
      const e1 = worstError(g, numbers(want));
      const e2 = worstError(g, Array.from(ref.data as ArrayLike<number | bigint>, Number));
      if (e1 > 1 || e2 > 1) return { status: 'fail', why: `output ${k} error ${e1.toFixed(2)}x (expected) ${e2.toFixed(2)}x (ORT) of tolerance` };
    }
    return { status: 'pass' };
  } finally {
    tf.dispose(outs);
  }
}

/** Known differences, each with its reason; everything else must pass. */
const KNOWN: Record<string, string> = {
  test_averagepool_3d_default: '3-D pooling is not implemented (UnsupportedError)',
  test_maxpool_3d_default: '3-D pooling is not implemented (UnsupportedError)',
  test_batchnorm_epsilon_training_mode: 'training-mode BatchNormalization is not implemented (UnsupportedError)',
  test_batchnorm_example_training_mode: 'training-mode BatchNormalization is not implemented (UnsupportedError)',
  test_maxpool_with_argmax_2d_precomputed_pads: 'the MaxPool Indices output is not implemented (UnsupportedError)',
  test_maxpool_with_argmax_2d_precomputed_strides: 'the MaxPool Indices output is not implemented (UnsupportedError)',
};

testdata.describe('executor on ONNX backend node tests', () => {
  const all = cases();
  const results = new Map<string, Outcome>();

  beforeAll(async () => {
    await useGradientBackend(tf, 'wasm');
    for (const c of all) {
      try {
        results.set(c.name, await runCase(c));
      } catch (e) {
        results.set(c.name, { status: 'fail', why: `mc threw: ${(e as Error).message.split('\n')[0]}` });
      }
    }
    const count = (s: Outcome['status']) => [...results.values()].filter((r) => r.status === s).length;
    // Printed so the report can quote the counts.
    console.log(`executor node tests: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped of ${all.length} matching`);
    for (const [n, r] of results) if (r.status !== 'pass') console.log(`  ${r.status} ${n}: ${r.why}`);
  });

  test('the selection is substantial', () => {
    expect([...results.values()].filter((r) => r.status === 'pass').length).toBeGreaterThan(150);
  });

  test('every selected test passes unless listed as known', () => {
    const failed = [...results].filter(([n, r]) => r.status === 'fail' && !KNOWN[n]).map(([n, r]) => `${n}: ${r.why}`);
    expect(failed).toEqual([]);
    // The known ones fail cleanly with UnsupportedError, not with wrong numbers.
    // and a known one that now passes must leave the list.
    for (const n of Object.keys(KNOWN)) {
      expect([n, results.get(n)?.status]).toEqual([n, 'fail']);
      expect(results.get(n)!.why).toMatch(/not supported/);
    }
  });

  test('the skips are exactly expected-skips.json, reasons included', () => {
    const skips = Object.fromEntries([...results].filter(([, r]) => r.status === 'skip').map(([n, r]) => [n, r.why]));
    expect(skips).toEqual(EXPECTED_SKIPS);
  });
});
