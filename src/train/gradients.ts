/**
 * Which inputs of each op the differentiable executor (runtime/executor) carries a
 * gradient through, as data. Training checks every path from a trained weight to the
 * output against this table before the first step (checkTrainable), so an op without a
 * gradient is named up front instead of surfacing as a tfjs error mid-run.
 *
 *  - 'inputs': tfjs autodiff gives the gradient w.r.t. these input positions (test/train/
 *    gradient-coverage.test.ts checks each against central finite differences).
 *  - 'constant': the output does not depend on the input's values (Shape, Size): the
 *    gradient is exactly zero, which is correct, so paths through it are not errors.
 *  - 'none': the op is piecewise constant or integer-valued: no useful gradient; a
 *    trained weight reaching it is an error naming the op.
 */
export type GradientRule =
  | { readonly kind: 'inputs'; readonly inputs: readonly number[] | 'all' }
  | { readonly kind: 'constant' }
  | { readonly kind: 'none'; readonly why: string };

const x0: GradientRule = { kind: 'inputs', inputs: [0] };
const binary: GradientRule = { kind: 'inputs', inputs: [0, 1] };

export const GRADIENTS: Readonly<Record<string, GradientRule>> = {
  Add: binary, Sub: binary, Mul: binary, Div: binary, Pow: binary,
  Max: { kind: 'inputs', inputs: 'all' }, Min: { kind: 'inputs', inputs: 'all' }, Sum: { kind: 'inputs', inputs: 'all' }, Mean: { kind: 'inputs', inputs: 'all' },
  Sqrt: x0, Erf: x0, Relu: x0, Sigmoid: x0, Tanh: x0, Exp: x0, Log: x0, Neg: x0, Abs: x0, Reciprocal: x0,
  Identity: x0, HardSwish: x0, LeakyRelu: x0, HardSigmoid: x0, Clip: x0, Softmax: x0, LogSoftmax: x0,
  Cast: { kind: 'none', why: 'Cast has no gradient in mc (its integer and bool targets are piecewise constant)' },
  Conv: { kind: 'inputs', inputs: [0, 1, 2] },
  ConvTranspose: { kind: 'inputs', inputs: [0, 1, 2] },
  // roi, scales and sizes (1-3) are coordinates, not data.
  Resize: x0,
  Gemm: { kind: 'inputs', inputs: [0, 1, 2] },
  MatMul: binary,
  MaxPool: x0, AveragePool: x0, GlobalAveragePool: x0, GlobalMaxPool: x0,
  Flatten: x0, Reshape: x0, Transpose: x0, Concat: { kind: 'inputs', inputs: 'all' }, Split: x0, Slice: x0,
  Gather: x0, Squeeze: x0, Unsqueeze: x0, Expand: x0, Pad: x0,
  Shape: { kind: 'constant' }, Size: { kind: 'constant' },
  Constant: { kind: 'constant' },
  ReduceMean: x0, ReduceSum: x0, ReduceMax: x0, ReduceMin: x0,
  // Frozen statistics: mean (3) and variance (4) are constants during fine-tuning, never trained.
  BatchNormalization: { kind: 'inputs', inputs: [0, 1, 2] },
  LayerNormalization: { kind: 'inputs', inputs: [0, 1, 2] },
};

/** Whether `op` carries a gradient from input position `i` to its outputs. */
export function passesGradient(op: string, i: number): boolean | 'constant' | undefined {
  const r = GRADIENTS[op];
  if (!r) return undefined;
  if (r.kind === 'constant') return 'constant';
  if (r.kind === 'none') return false;
  return r.inputs === 'all' || r.inputs.includes(i);
}
