/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
/**
 * Round-trips every model of ONNX's backend test data (libonnx-testdata) through
 * mc's IR and checks, for each: the re-encoded ModelProto is the same message
 * (and counts byte-identical files), and onnxruntime gives bitwise-identical
 * outputs for the original and the round-tripped model on test_data_set_0.
 *
 * A model is skipped only when onnxruntime cannot run the original (the reference) or
 * its inputs are not tensors; mc's own failures (decoding the model or its .pb inputs)
 * are mismatches. The skips and their reason classes are listed in expected-skips.json,
 * and the test fails when the set changes: a new skip, or a listed one that now runs.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as ort from 'onnxruntime-node';
import { decodeTensorProto, encodeOnnx, loadOnnx } from '../../src/formats/onnx';
import { proto } from '../../src/formats/onnx/schema';
import { protoEqual } from '../../src/formats/onnx/type-codec';
import type { Model } from '../../src/ir';
import { outputsDiffer, runOnce, toOrtTensor } from '../helpers/onnx-ort';
import { requireDep } from '../helpers/require-dep';
import EXPECTED_SKIPS from './expected-skips.json';

const ROOT = process.env.MC_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
const CATEGORIES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];

interface CategoryResult {
  total: number;
  messageIdentical: number;
  byteIdentical: number;
  ran: number;
  outputsIdentical: number;
  skipped: Record<string, string[]>;
  mismatches: string[];
}

const results: Record<string, CategoryResult> = {};

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].trim();
}

/** A coarse reason class for a skip, for the summary counts. */
const SKIP_CLASSES: [RegExp, string][] = [
  [/Could not find an implementation/, 'ORT has no kernel (old opset or type)'],
  [/is not a registered function\/op/, 'op not registered in ORT (training/preview)'],
  [/Non tensor type/, 'non-tensor output'],
  [/StringNormalizer|string_normalizer/, 'StringNormalizer locale missing'],
  [/Unsupported data type/, 'dtype unsupported by onnxruntime-node (bfloat16)'],
  [/non-tensor input/, 'non-tensor input (sequence/map/optional)'],
  [/nondeterministic/, 'nondeterministic op'],
  [/layout_ == 0 was false/, 'ORT rejects the batchwise RNN layout (layout=1)'],
];

function skipClass(reason: string): string {
  return SKIP_CLASSES.find(([re]) => re.test(reason))?.[1] ?? reason.slice(0, 60);
}

function skip(r: CategoryResult, name: string, reason: string): void {
  (r.skipped[skipClass(reason)] ??= []).push(`${name}: ${reason.slice(0, 200)}`);
}

function readInputs(dir: string, names: readonly string[]): Record<string, ort.Tensor> {
  const setDir = path.join(dir, 'test_data_set_0');
  const files = fs.readdirSync(setDir).filter((f) => /^input_\d+\.pb$/.test(f))
    .sort((a, b) => Number(a.slice(6, -3)) - Number(b.slice(6, -3)));
  const feeds: Record<string, ort.Tensor> = {};
  files.forEach((f, i) => {
    const t = decodeTensorProto(fs.readFileSync(path.join(setDir, f)), path.join(setDir, f));
    // Input files carry the input's name; fall back to the graph's non-initializer input order.
    const name = names.includes(t.name) ? t.name : names[i];
    feeds[name] = toOrtTensor(t);
  });
  return feeds;
}

async function checkCase(r: CategoryResult, dir: string): Promise<void> {
  const name = path.basename(dir);
  const file = path.join(dir, 'model.onnx');
  const original = fs.readFileSync(file);
  r.total++;
  let encoded: Uint8Array;
  let model: Model;
  try {
    model = loadOnnx(file);
    encoded = encodeOnnx(model);
  } catch (e) {
    r.mismatches.push(`${name}: round trip threw: ${firstLine(e)}`);
    return;
  }
  if (protoEqual(proto.ModelProto.decode(original), proto.ModelProto.decode(encoded))) r.messageIdentical++;
  else r.mismatches.push(`${name}: re-encoded message differs`);
  if (Buffer.from(encoded).equals(original)) r.byteIdentical++;

  const inits = new Set(model.graph.initializers.map((v) => v.name));
  const inputs = model.graph.inputs.filter((v) => !inits.has(v.name));
  if (inputs.some((v) => v.typeExtra !== undefined && !(v.typeExtra as { tensor_type?: unknown }).tensor_type)) {
    skip(r, name, 'non-tensor input (sequence/map/optional)');
    return;
  }
  let feeds: Record<string, ort.Tensor>;
  try {
    feeds = readInputs(dir, inputs.map((v) => v.name));
  } catch (e) {
    // mc's own .pb decoder: a failure here is mc's, not the reference's.
    r.mismatches.push(`${name}: reading the input data threw: ${firstLine(e)}`);
    return;
  }
  let expected: ort.InferenceSession.OnnxValueMapType;
  try {
    expected = await runOnce(original, feeds);
  } catch (e) {
    skip(r, name, firstLine(e));
    return;
  }
  r.ran++;
  let actual: ort.InferenceSession.OnnxValueMapType;
  try {
    actual = await runOnce(encoded, feeds);
  } catch (e) {
    r.mismatches.push(`${name}: round-tripped model fails in ORT: ${firstLine(e)}`);
    return;
  }
  const diff = outputsDiffer(expected, actual);
  if (!diff) {
    r.outputsIdentical++;
    return;
  }
  // Random ops (Bernoulli, RandomNormal, Dropout) differ run to run: check the original against itself.
  const again = await runOnce(original, feeds);
  if (outputsDiffer(expected, again)) {
    r.ran--;
    skip(r, name, 'nondeterministic outputs (the original differs between runs)');
  } else {
    r.mismatches.push(`${name}: ${diff}`);
  }
}

const present = CATEGORIES.some((c) => fs.existsSync(path.join(ROOT, c)));
const testdata = requireDep('onnx-testdata', present, `ONNX backend test data not found under ${ROOT} (apt-get install libonnx-testdata)`);

testdata.describe('ONNX backend test data round trip', () => {
  afterAll(() => {
    const sum = (k: 'total' | 'messageIdentical' | 'byteIdentical' | 'ran' | 'outputsIdentical'): number =>
      Object.values(results).reduce((s, r) => s + r[k], 0);
    const skippedByClass: Record<string, number> = {};
    for (const r of Object.values(results)) {
      for (const [k, v] of Object.entries(r.skipped)) skippedByClass[k] = (skippedByClass[k] ?? 0) + v.length;
    }
    const summary = {
      total: sum('total'), messageIdentical: sum('messageIdentical'), byteIdentical: sum('byteIdentical'),
      ran: sum('ran'), outputsIdentical: sum('outputsIdentical'),
      skipped: Object.values(skippedByClass).reduce((s, n) => s + n, 0), skippedByClass,
      mismatches: Object.values(results).flatMap((r) => r.mismatches),
    };
    const out = path.join(os.tmpdir(), 'mc-onnx-conformance.json');
    fs.writeFileSync(out, JSON.stringify({ summary, categories: results }, null, 2));
    console.log(`ONNX conformance: ${JSON.stringify(summary, null, 1)}\n(details: ${out})`);
  });

  for (const cat of CATEGORIES) {
    const dir = path.join(ROOT, cat);
    test(`${cat}: message-identical round trip and bitwise-identical ORT outputs`, async () => {
      const r: CategoryResult = { total: 0, messageIdentical: 0, byteIdentical: 0, ran: 0, outputsIdentical: 0, skipped: {}, mismatches: [] };
      results[cat] = r;
      const cases = fs.readdirSync(dir).sort().map((d) => path.join(dir, d)).filter((d) => fs.existsSync(path.join(d, 'model.onnx')));
      for (const c of cases) await checkCase(r, c);
      // Every case whose message or outputs differ, or that mc fails to read, adds a mismatch (checkCase), so
      // this one check covers message-identical = total and outputs-identical = ran.
      expect(r.mismatches).toEqual([]);
      // Guard against a silently broken runner: most models must actually run
      // (measured with ORT 1.30: node 880/932, pytorch-converted 59/82, pytorch-operator 24/35, simple 17/23).
      expect(r.ran).toBeGreaterThanOrEqual(Math.floor(r.total * 0.6));
    }, 600_000);
  }

  test('the skips are exactly expected-skips.json (category/model: reason class)', () => {
    const skips: Record<string, string> = {};
    for (const [cat, r] of Object.entries(results)) {
      for (const [cls, list] of Object.entries(r.skipped)) for (const line of list) skips[`${cat}/${line.slice(0, line.indexOf(':'))}`] = cls;
    }
    expect(Object.keys(results).sort()).toEqual([...CATEGORIES].sort());
    expect(skips).toEqual(EXPECTED_SKIPS);
  });
});
