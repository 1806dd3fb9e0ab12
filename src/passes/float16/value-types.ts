/**
 * Element types of every value of an ONNX graph and its subgraphs, as far as
 * the float16 conversion needs them: which values are float32. A type the file
 * records (graph inputs/outputs, value_info, initializers) wins; otherwise the
 * op's output type rule below decides, as the ONNX operator schemas define it
 * (onnx.ai/onnx/operators). Most ops output their first input's type; the
 * table lists those that do not.
 */
import type { DType, Graph, Node, Value } from '../../ir';
import { dtypeFromOnnx } from '../../formats/onnx/dtype';

export type TypeMap = Map<Value, DType>;

const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);

/** Infers the types of `graph` (and nested subgraphs) into `types`; outer-scope values must already be there. */
export function inferTypes(graph: Graph, types: TypeMap = new Map()): TypeMap {
  for (const v of [...graph.inputs, ...graph.initializers]) {
    const d = v.dtype ?? v.const?.dtype;
    if (d) types.set(v, d);
  }
  for (const n of graph.nodes) {
    for (const a of n.attributes.values()) {
      if (a.type === 'graph') inferSubgraph(n, a.value, types);
      else if (a.type === 'graphs') for (const g of a.value) inferSubgraph(n, g, types);
    }
    const inferred = outputTypes(n, types);
    n.outputs.forEach((o, i) => {
      const d = o.dtype ?? inferred[i];
      if (d) types.set(o, d);
    });
  }
  return types;
}

/** Loop and Scan bodies take their formal inputs' types from the node's inputs when the file does not record them. */
function inferSubgraph(n: Node, g: Graph, types: TypeMap): void {
  if (n.opType === 'Loop') {
    // Loop body inputs: iteration number, condition, then the loop-carried values (node inputs 2…).
    g.inputs.forEach((v, i) => {
      if (v.dtype) return;
      const d = i === 0 ? 'int64' : i === 1 ? 'bool' : typeOf(n.inputs[i], types);
      if (d) types.set(v, d);
    });
  } else if (n.opType === 'Scan') {
    g.inputs.forEach((v, i) => {
      const d = v.dtype ?? typeOf(n.inputs[i], types);
      if (d) types.set(v, d);
    });
  }
  inferTypes(g, types);
}

function typeOf(v: Value | null | undefined, types: TypeMap): DType | undefined {
  return v ? types.get(v) ?? v.dtype ?? v.const?.dtype : undefined;
}

/** Output types of one node by its op's rule; undefined where unknown. */
export function outputTypes(n: Node, types: TypeMap): (DType | undefined)[] {
  const count = n.outputs.length;
  const all = (d: DType | undefined): (DType | undefined)[] => new Array<DType | undefined>(count).fill(d);
  const input = (i: number): DType | undefined => typeOf(n.inputs[i], types);
  const attrType = (name: string, fallback: DType | undefined): DType | undefined => {
    const a = n.attributes.get(name);
    return a?.type === 'int' ? dtypeFromOnnx(Number(a.value)) : fallback;
  };
  const sub = (name: string, skip = 0): (DType | undefined)[] => {
    const a = n.attributes.get(name);
    if (a?.type !== 'graph') return all(undefined);
    return n.outputs.map((_, i) => typeOf(a.value.outputs[i + skip], types));
  };
  const firstInput = n.inputs.find((v) => v !== null) ?? null;
  if (n.domain !== '' && n.domain !== 'ai.onnx') return all(typeOf(firstInput, types));
  if (BOOL_OUT.has(n.opType)) return all('bool');
  if (INT64_OUT.has(n.opType)) return all('int64');
  switch (n.opType) {
    case 'Cast': return all(attrType('to', undefined));
    case 'CastLike': return all(input(1));
    case 'Constant': return [constantType(n)];
    case 'ConstantOfShape': {
      const a = n.attributes.get('value');
      return [a?.type === 'tensor' ? a.value.dtype : 'float32'];
    }
    case 'EyeLike': case 'RandomNormalLike': case 'RandomUniformLike': case 'Bernoulli': return all(attrType('dtype', input(0)));
    case 'RandomNormal': case 'RandomUniform': return all(attrType('dtype', 'float32'));
    case 'Multinomial': return all(attrType('dtype', 'int32'));
    case 'TopK': return [input(0), 'int64'];
    case 'Unique': return [input(0), 'int64', 'int64', 'int64'];
    case 'DequantizeLinear': return all(input(1));
    case 'QuantizeLinear': return all(input(2) ?? 'uint8');
    case 'DynamicQuantizeLinear': return ['uint8', 'float32', 'uint8'];
    case 'MatMulInteger': case 'ConvInteger': return all('int32');
    case 'QLinearConv': case 'QLinearMatMul': return all(input(7));
    case 'Where': return all(input(1));
    case 'OneHot': return all(input(2));
    case 'If': return sub('then_branch');
    case 'Loop': return sub('body', 1);
    case 'Scan': return sub('body');
    default: return all(typeOf(firstInput, types));
  }
}

function constantType(n: Node): DType | undefined {
  for (const a of n.attributes.values()) {
    switch (a.name) {
      case 'value': return a.type === 'tensor' ? a.value.dtype : undefined;
      case 'sparse_value': return a.type === 'sparse_tensor' ? a.value.values.dtype : undefined;
      case 'value_float': case 'value_floats': return 'float32';
      case 'value_int': case 'value_ints': return 'int64';
      case 'value_string': case 'value_strings': return 'string';
    }
  }
  return undefined;
}
