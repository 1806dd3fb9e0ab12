import { UsageError } from '../errors';
import { detectFormat } from '../formats';
import { encodeOnnx, loadOnnx } from '../formats/onnx';
import type { Model } from '../ir';
import { OrtRunner, type ModelSource } from '../runtime';

/** Names of the main graph's node outputs that are not already graph outputs. */
function intermediateNames(model: Model): Set<string> {
  const outputs = new Set(model.graph.outputs.map((v) => v.name));
  const names = new Set<string>();
  for (const n of model.graph.nodes) for (const v of n.outputs) if (v.name && !outputs.has(v.name)) names.add(v.name);
  return names;
}

/**
 * `model` (a private decode or clone, changed here) encoded with its graph also
 * outputs every value in `names`, so one run yields those intermediates.
 * Outputs are added without a type: onnxruntime infers it.
 */
function exposing(model: Model, names: ReadonlySet<string>): Uint8Array {
  for (const n of model.graph.nodes) for (const v of n.outputs) if (names.has(v.name)) model.graph.outputs.push(v);
  return encodeOnnx(model);
}

export interface PerLayerPair {
  candidate: OrtRunner;
  baseline: OrtRunner;
  /** Shared intermediate float tensors both sessions output. */
  names: string[];
}

/**
 * Opens a second pair of sessions that also output every intermediate tensor
 * both models produce under the same name. Works on in-memory decodes: the
 * user's files are only read. Which shared tensors also agree in shape is
 * decided per batch by the comparison itself. Non-float tensors (shapes,
 * indices) are dropped using the types onnxruntime infers.
 */
export async function openPerLayerPair(candidate: ModelSource, baseline: ModelSource, threads: number, names: { candidate: string; baseline: string }): Promise<PerLayerPair> {
  for (const [src, label] of [[candidate, names.candidate], [baseline, names.baseline]] as const) {
    if (typeof src === 'string' ? detectFormat(src) !== 'onnx' : src.format !== 'onnx') throw new UsageError(`--per-layer needs ONNX models; ${label} is not one`);
  }
  // A private copy to add outputs to: a fresh decode of a file, a clone of a model in memory.
  const cand = typeof candidate === 'string' ? loadOnnx(candidate) : candidate.clone();
  const base = typeof baseline === 'string' ? loadOnnx(baseline) : baseline.clone();
  const baseNames = intermediateNames(base);
  const shared = new Set([...intermediateNames(cand)].filter((n) => baseNames.has(n)));
  const candRunner = await OrtRunner.create(exposing(cand, shared), { threads, label: names.candidate });
  const baseRunner = await OrtRunner.create(exposing(base, shared), { threads, label: names.baseline });
  const isFloat = (r: OrtRunner, n: string): boolean => {
    const d = r.outputs.find((o) => o.name === n)?.dtype;
    return d === 'float32' || d === 'float16' || d === 'float64' || d === 'bfloat16';
  };
  const out = [...shared].filter((n) => isFloat(candRunner, n) && isFloat(baseRunner, n)).sort();
  return { candidate: candRunner, baseline: baseRunner, names: out };
}
