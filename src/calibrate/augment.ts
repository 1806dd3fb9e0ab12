/**
 * The model calibration runs: the user's model with the tensors to observe
 * added as extra graph outputs, encoded in memory (never written to disk) for
 * onnxruntime. Built from the IR and restored afterwards, so the caller's
 * Model is unchanged.
 */
import { encodeOnnx } from '../formats/onnx';
import { InputError } from '../errors';
import type { Model, Value } from '../ir';
import type { InputSpec } from '../data';

/** Model bytes whose outputs are the original outputs followed by `tensors` (those not outputs already). */
export function augmentedModelBytes(model: Model, tensors: readonly string[]): Uint8Array {
  const g = model.graph;
  const byName = new Map<string, Value>();
  for (const v of g.values()) byName.set(v.name, v);
  const savedOutputs = [...g.outputs];
  const untyped: Value[] = [];
  try {
    for (const name of tensors) {
      const v = byName.get(name);
      if (!v) throw new InputError(`calibration: no tensor '${name}' in the main graph`);
      if (g.outputs.includes(v)) continue;
      // Without shape inference some intermediates carry no type. Every tensor
      // we observe is a float activation, and ORT needs the output's element type.
      if (v.dtype === undefined) { v.dtype = 'float32'; untyped.push(v); }
      g.outputs.push(v);
    }
    return encodeOnnx(model);
  } finally {
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
