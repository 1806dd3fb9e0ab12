/**
 * Lifts the `Constant` nodes that hold weights into initializers of their own graph
 * (the main graph or the If/Loop/Scan body they sit in), so that every pass finds
 * weights in one place. The node's output Value stays the same object: it gains
 * the tensor and loses its producer, so every use keeps reading it and nothing is
 * rewired. Only constants that hold learned values are lifted (inspect's
 * definition, src/inspect/parameters.ts): shape and axis constants stay nodes.
 *
 * Run by the quantize and prune pipelines, never by `mc convert`, which keeps a
 * model's bytes unless a pass was asked for.
 */
import { defaultOpRegistry, Model, OpRegistry } from '../ir';
import { isLearnedConstant } from '../inspect/parameters';
import type { Pass, PassResult } from '../passes/pass';
import { constantTensors } from './constants';

export interface LiftedConstant {
  name: string;
  /** Name of the graph it now belongs to. */
  graph: string;
  /** True when that graph is an If/Loop/Scan body, not the main graph. */
  inSubgraph: boolean;
  dtype: string;
  elements: number;
}

export interface LiftReport {
  lifted: LiftedConstant[];
  /** Weight-holding Constant nodes left as they were, with the reason. */
  kept: { name: string; reason: string }[];
}

export function liftConstantsPass(registry: OpRegistry = defaultOpRegistry): Pass<LiftReport> {
  return { name: 'lift-constants', run: (model) => liftConstantNodes(model, registry) };
}

export function liftConstantNodes(model: Model, registry: OpRegistry = defaultOpRegistry): PassResult<LiftReport> {
  const report: LiftReport = { lifted: [], kept: [] };
  if (model.format !== 'onnx') return { modified: false, changes: report };
  // Before IR version 4 every initializer must also be a graph input (onnx IR.html); lifting would change the signature.
  const oldIr = (model.irVersion ?? 4) < 4;
  for (const c of [...constantTensors(model)]) {
    const { node, value, tensor, graph } = c;
    if (!node || !isLearnedConstant(value, registry, tensor)) continue;
    if (oldIr) { report.kept.push({ name: value.name, reason: `IR version ${model.irVersion} < 4 (initializers would have to become graph inputs)` }); continue; }
    if (graph.outputs.includes(value)) { report.kept.push({ name: value.name, reason: 'it is a graph output' }); continue; }
    graph.removeNode(node, true);
    value.const = tensor;
    value.dtype = tensor.dtype;
    value.shape = [...tensor.shape];
    graph.initializers.push(value);
    report.lifted.push({ name: value.name, graph: graph.name, inSubgraph: graph !== model.graph, dtype: tensor.dtype, elements: tensor.size });
  }
  return { modified: report.lifted.length > 0, changes: report };
}
