/**
 * The model calibration runs: the user's model with the tensors to observe
 * added as extra graph outputs, encoded in memory (never written to disk) for
 * onnxruntime. Built from the IR and restored afterwards, so the caller's
 * Model is unchanged.
 */
import { encodeOnnx } from '../formats/onnx';
import { InputError } from '../errors';
import { intAttr, Node, Value } from '../ir';
import type { Model } from '../ir';
import type { InputSpec } from '../data';

/** Output names of the in-graph reductions of one observed tensor. */
export interface ReducedOutputs {
  min: string;
  max: string;
}

/**
 * Model bytes whose outputs are the original outputs followed by `tensors`
 * (those not outputs already) and, for each name in `reduced`, its
 * ReduceMin/ReduceMax over all axes as two scalar outputs. Reducing inside
 * onnxruntime (vectorized, no copy of the activation into JS) is what makes
 * min-max calibration cost little more than inference; it also leaves the
 * observed tensor an internal value, so ORT's fusions and layouts stay as
 * in plain inference.
 */
export function augmentedModelBytes(model: Model, tensors: readonly string[], reduced: readonly string[] = []): Uint8Array {
  return augmentedModel(model, tensors, reduced).bytes;
}

export function augmentedModel(model: Model, tensors: readonly string[], reduced: readonly string[] = []): { bytes: Uint8Array; reductions: Map<string, ReducedOutputs> } {
  const g = model.graph;
  const byName = new Map<string, Value>();
  for (const v of g.values()) byName.set(v.name, v);
  const savedOutputs = [...g.outputs];
  const untyped: Value[] = [];
  const added: Node[] = [];
  const reductions = new Map<string, ReducedOutputs>();
  try {
    for (const name of reduced) {
      const v = byName.get(name);
      if (!v) throw new InputError(`calibration: no tensor '${name}' in the main graph`);
      const outs = { min: g.uniqueName(`${name}/mc_calib_min`), max: g.uniqueName(`${name}/mc_calib_max`) };
      // No axes: every axis is reduced, at every opset (axes moved to an input in opset 18).
      for (const [op, out] of [['ReduceMin', outs.min], ['ReduceMax', outs.max]] as const) {
        const o = new Value(out, { dtype: v.dtype ?? 'float32', shape: [] });
        const n = new Node({ opType: op, name: out, inputs: [v], outputs: [o], attributes: [intAttr('keepdims', 0)] });
        g.addNode(n);
        added.push(n);
        g.outputs.push(o);
      }
      reductions.set(name, outs);
    }
    for (const name of tensors) {
      const v = byName.get(name);
      if (!v) throw new InputError(`calibration: no tensor '${name}' in the main graph`);
      if (g.outputs.includes(v)) continue;
      // Without shape inference some intermediates carry no type. Every tensor
      // we observe is a float activation, and ORT needs the output's element type.
      if (v.dtype === undefined) { v.dtype = 'float32'; untyped.push(v); }
      g.outputs.push(v);
    }
    return { bytes: encodeOnnx(model), reductions };
  } finally {
    for (const n of added) g.removeNode(n, true);
    g.outputs = savedOutputs;
    for (const v of untyped) v.dtype = undefined;
  }
}

/** The model's real inputs (graph inputs that are not initializers), as datasets describe them. */
export function modelInputSpecs(model: Model): InputSpec[] {
  const inits = new Set(model.graph.initializers.map((v) => v.name));
  return model.graph.inputs
    .filter((v) => !inits.has(v.name))
    .map((v) => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape ?? [] }));
}
