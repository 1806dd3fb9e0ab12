/**
 * Raising the default-domain opset of an ONNX model (needed for per-axis
 * DequantizeLinear at 13 and for INT4 / block_size at 21) without changing
 * what any existing node means.
 *
 * Bumping the opset import re-interprets every node under the newest schema
 * ≤ the new version. Where a schema changed an attribute into an input
 * (onnx/docs/Changelog.md), the node is upgraded here:
 *   13: Squeeze, Unsqueeze, ReduceSum `axes`; Split `split`;
 *   18: ReduceMean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare `axes`.
 * Other semantic changes have no rewrite here and refuse with a clear error.
 * Ops whose later versions only add types or attributes with backward-
 * compatible defaults (Reshape allowzero, Pad, Resize, Cast saturate...) are fine.
 */
import { Graph, Model, Node, Tensor } from '../../ir';
import { UnsupportedError } from '../../errors';
import type { NameAllocator } from './edits';

interface Change {
  version: number;
  /** Attribute moved to an input slot (int64 1-D) at `version`. */
  attrToInput?: { attr: string; input: number };
  /** Why no rewrite exists. */
  refuse?: string;
}

const REDUCE_18 = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

const CHANGES: ReadonlyMap<string, readonly Change[]> = new Map<string, Change[]>([
  ...['Squeeze', 'Unsqueeze', 'ReduceSum'].map((op): [string, Change[]] => [op, [{ version: 13, attrToInput: { attr: 'axes', input: 1 } }]]),
  ['Split', [{ version: 13, attrToInput: { attr: 'split', input: 1 } }]],
  ...REDUCE_18.map((op): [string, Change[]] => [op, [{ version: 18, attrToInput: { attr: 'axes', input: 1 } }]]),
  ...['Softmax', 'LogSoftmax', 'Hardmax'].map((op): [string, Change[]] => [op, [{ version: 13, refuse: 'its axis semantics changed (no longer coerced to 2-D)' }]]),
  ['Upsample', [{ version: 10, refuse: 'it was removed in favour of Resize' }]],
  ['Scatter', [{ version: 11, refuse: 'it was removed in favour of ScatterElements' }]],
  ['Slice', [{ version: 10, refuse: 'starts/ends became inputs' }]],
  ['TopK', [{ version: 10, refuse: 'k became an input' }]],
  ['Pad', [{ version: 11, refuse: 'pads became an input' }]],
  ['Clip', [{ version: 11, refuse: 'min/max became inputs' }]],
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
      if (change.refuse) {
        throw new UnsupportedError(`raising the model's opset ${current} → ${target} would change ${node.describe()}: ${change.refuse} at opset ${change.version}; ${hint}`);
      }
      todo.push({ node, change });
    }
  }
  for (const { node, change } of todo) moveAttrToInput(node, change.attrToInput!, names);
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

function* allNodes(g: Graph): Iterable<Node> {
  yield* g.allNodes();
}

