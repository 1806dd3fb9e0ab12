/**
 * Raising the default-domain opset of an ONNX model (needed for per-axis
 * DequantizeLinear at 13 and for INT4 / block_size at 21) without changing
 * what any existing node means.
 *
 * Bumping the opset import re-interprets every node under the newest schema
 * ≤ the new version. Where a schema changed an attribute into an input
 * (onnx/docs/Changelog.md), the node is upgraded here:
 *   13: Squeeze, Unsqueeze, ReduceSum `axes`; Split `split`;
 *   18: ReduceMean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare `axes`;
 *   10: Slice `starts`/`ends`/`axes` (int64 inputs 1-3);
 *   11: Clip `min`/`max` (scalar inputs 1-2 of the input's type; absent = unbounded),
 *       Pad `pads` (int64 input 1) and `value` (scalar input 2; mode unchanged);
 *   13: Softmax/LogSoftmax/Hardmax, whose old form coerced the input to 2-D at `axis`
 *       (default 1): the same as the new one-axis form exactly when `axis` is the last
 *       axis, which the input's known rank decides; otherwise it refuses.
 * Other semantic changes have no rewrite here and refuse with a clear error.
 * Ops whose later versions only add types or attributes with backward-
 * compatible defaults (Reshape allowzero, Pad, Resize, Cast saturate...) are fine.
 */
import { floatToHalf, Graph, intAttr, Model, Node, Tensor, Value } from '../../ir';
import { UnsupportedError } from '../../errors';
import type { NameAllocator } from './edits';

interface Change {
  version: number;
  /** Attribute moved to an input slot (int64 1-D) at `version`. */
  attrToInput?: { attr: string; input: number };
  /** A rewrite of its own (several attributes, float inputs). */
  rewrite?: (node: Node, names: NameAllocator) => void;
  /** Why no rewrite exists. */
  refuse?: string;
  /** Checked before anything changes: why this node cannot be rewritten, or null. */
  check?: (node: Node) => string | null;
}

const REDUCE_18 = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

const CHANGES: ReadonlyMap<string, readonly Change[]> = new Map<string, Change[]>([
  ...['Squeeze', 'Unsqueeze', 'ReduceSum'].map((op): [string, Change[]] => [op, [{ version: 13, attrToInput: { attr: 'axes', input: 1 } }]]),
  ['Split', [{ version: 13, attrToInput: { attr: 'split', input: 1 } }]],
  ...REDUCE_18.map((op): [string, Change[]] => [op, [{ version: 18, attrToInput: { attr: 'axes', input: 1 } }]]),
  ...['Softmax', 'LogSoftmax', 'Hardmax'].map((op): [string, Change[]] => [op, [{ version: 13, rewrite: upgradeSoftmax }]]),
  ['Upsample', [{ version: 10, refuse: 'it was removed in favour of Resize' }]],
  ['Scatter', [{ version: 11, refuse: 'it was removed in favour of ScatterElements' }]],
  ['Slice', [{ version: 10, rewrite: (n, names) => attrsToInputs(n, names, ['starts', 'ends', 'axes'], 1) }]],
  ['TopK', [{ version: 10, refuse: 'k became an input' }]],
  ['Pad', [{ version: 11, rewrite: upgradePad }]],
  ['Clip', [{ version: 11, rewrite: upgradeClip }]],
  ['Resize', [{ version: 11, refuse: 'its inputs changed' }]],
  ['Dropout', [{ version: 12, refuse: 'ratio became an input' }]],
  ['GridSample', [{ version: 20, refuse: "its mode values were renamed ('bilinear' → 'linear')" }]],
  ['DFT', [{ version: 20, refuse: 'axis became an input' }]],
]);

/** Minimum ONNX IR version for an opset (onnx/docs/Versioning.md table). */
function minIrVersion(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  return opset >= 13 ? 7 : 3;
}

/**
 * Raises the default-domain opset to `target`, rewriting nodes whose schema
 * changed in (current, target]. Throws UnsupportedError (nothing changed) when a
 * node cannot be carried over; `hint` says what to do instead.
 */
export function raiseOpset(model: Model, target: number, names: NameAllocator, hint: string): void {
  const current = model.opsetVersion('') ?? 1;
  if (current >= target) return;
  const todo: { node: Node; change: Change }[] = [];
  for (const node of allNodes(model.graph)) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    for (const change of CHANGES.get(node.opType) ?? []) {
      if (change.version <= current || change.version > target) continue;
      const refuse = change.refuse ?? change.check?.(node);
      if (refuse) {
        throw new UnsupportedError(`raising the model's opset ${current} → ${target} would change ${node.describe()}: ${refuse} at opset ${change.version}; ${hint}`);
      }
      todo.push({ node, change });
    }
  }
  for (const { node, change } of todo) {
    if (change.rewrite) change.rewrite(node, names);
    else moveAttrToInput(node, change.attrToInput!, names);
  }
  model.requireOpset('', target);
  model.irVersion = Math.max(model.irVersion ?? 0, minIrVersion(target));
}

function moveAttrToInput(node: Node, m: { attr: string; input: number }, names: NameAllocator): void {
  const a = node.attributes.get(m.attr);
  if (!a) return; // default behaviour is the same in both versions
  const ints = node.attrInts(m.attr);
  node.attributes.delete(m.attr);
  const data = new BigInt64Array(ints.map((x) => BigInt(x)));
  const name = names.fresh(`${node.name || node.opType}_${m.attr}`);
  const graph = node.graph as Graph;
  const v = graph.addInitializer(name, Tensor.fromArray('int64', [ints.length], data, name));
  while (node.inputs.length < m.input) node.appendInput(null);
  if (node.inputs.length === m.input) node.appendInput(v);
  else node.setInput(m.input, v);
}

/** Slice-1 → 10: each int list attribute becomes the next input, in order; trailing absent ones stay absent. */
function attrsToInputs(node: Node, names: NameAllocator, attrs: string[], first: number): void {
  const present = attrs.map((a) => node.attributes.has(a));
  const last = present.lastIndexOf(true);
  attrs.forEach((attr, i) => {
    if (i > last) return;
    if (present[i]) moveAttrToInput(node, { attr, input: first + i }, names);
    else while (node.inputs.length <= first + i) node.appendInput(null);
  });
}

/** A float scalar constant of `dtype` (float32 or float16: the types Clip-6 and Pad-2 took). */
function floatScalar(node: Node, names: NameAllocator, base: string, x: number): Value {
  const dtype = node.inputs[0]?.dtype === 'float16' ? 'float16' : node.inputs[0]?.dtype === 'float64' ? 'float64' : 'float32';
  const name = names.fresh(`${node.name || node.opType}_${base}`);
  const data = dtype === 'float16' ? Uint16Array.of(floatToHalf(x)) : dtype === 'float64' ? Float64Array.of(x) : Float32Array.of(x);
  return (node.graph as Graph).addInitializer(name, Tensor.fromArray(dtype, [], data, name));
}

function setInputAt(node: Node, index: number, v: Value | null): void {
  while (node.inputs.length <= index) node.appendInput(null);
  node.setInput(index, v);
}

/**
 * Softmax/LogSoftmax/Hardmax-1/11 → 13. The old form coerced the input to 2-D at `axis`
 * (default 1) and normalized each row; the new one normalizes along one axis. When the
 * input's recorded rank (or the output's: the same) shows `axis` is the last axis, the two
 * agree and only the attribute changes. Otherwise the old meaning is spelled out exactly:
 * Flatten(x, axis) → op(axis = 1) → Reshape to Shape(x).
 */
function upgradeSoftmax(node: Node, names: NameAllocator): void {
  const rank = node.inputs[0]?.shape?.length ?? node.outputs[0]?.shape?.length;
  const axis = node.attrInt('axis', 1);
  if (rank !== undefined && (axis < 0 ? axis + rank : axis) === rank - 1) {
    node.setAttribute(intAttr('axis', -1));
    return;
  }
  const graph = node.graph as Graph;
  const x = node.inputs[0]!;
  const y = node.outputs[0];
  const base = node.name || node.opType;
  const shape = new Value(names.fresh(`${base}_input_shape`), { dtype: 'int64' });
  const flat = new Value(names.fresh(`${base}_2d`), { dtype: x.dtype });
  const out2d = new Value(names.fresh(`${base}_2d_output`), { dtype: y.dtype });
  const at = graph.nodes.indexOf(node);
  const next = graph.nodes[at + 1];
  graph.removeNode(node, true);
  const add = (opType: string, suffix: string, inputs: Value[], outputs: Value[], attributes = [] as ReturnType<typeof intAttr>[]): void => {
    graph.addNode(new Node({ opType, name: names.fresh(`${base}_${suffix}`), inputs, outputs, attributes }), next);
  };
  add('Shape', 'shape', [x], [shape]);
  add('Flatten', 'flatten', [x], [flat], [intAttr('axis', axis)]);
  add(node.opType, 'rows', [flat], [out2d], [intAttr('axis', 1)]);
  add('Reshape', 'reshape', [out2d, shape], [y]);
}

/** Clip-6 → 11: min/max attributes (defaults ∓FLT_MAX, i.e. unbounded) become optional scalar inputs. */
function upgradeClip(node: Node, names: NameAllocator): void {
  for (const [attr, input] of [['min', 1], ['max', 2]] as const) {
    if (!node.attributes.has(attr)) continue;
    const x = node.attrFloat(attr);
    node.attributes.delete(attr);
    setInputAt(node, input, floatScalar(node, names, attr, x));
  }
}

/** Pad-2 → 11: `pads` becomes int64 input 1 and `value` (default 0) the scalar input 2. */
function upgradePad(node: Node, names: NameAllocator): void {
  moveAttrToInput(node, { attr: 'pads', input: 1 }, names);
  if (node.attributes.has('value')) {
    const x = node.attrFloat('value');
    node.attributes.delete('value');
    if (x !== 0) setInputAt(node, 2, floatScalar(node, names, 'value', x));
  }
}

function* allNodes(g: Graph): Iterable<Node> {
  yield* g.allNodes();
}

