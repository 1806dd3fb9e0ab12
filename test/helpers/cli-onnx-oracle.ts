/**
 * An independent reading of an ONNX file with the reference `onnx` Python
 * package (Debian's /usr/bin/python3; test-time only): float constant elements
 * (initializers and Constant nodes: value, value_float(s), sparse_value) and the
 * op-type histogram over the main graph and all subgraphs.
 */
import { execFileSync } from 'child_process';

const SCRIPT = `
import json, sys, collections
import onnx
from onnx import TensorProto
FLOATS = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
def read(path):
  m = onnx.load(path, load_external_data=False)
  params = 0
  ops = collections.Counter()
  def walk(g):
      nonlocal params
      for t in g.initializer:
          if t.data_type in FLOATS:
              n = 1
              for d in t.dims: n *= d
              params += n
      for node in g.node:
          ops[(node.domain, node.op_type)] += 1
          if node.op_type == 'Constant' and node.domain in ('', 'ai.onnx'):
              for a in node.attribute:
                  if a.name == 'value' and a.t.data_type in FLOATS:
                      n = 1
                      for d in a.t.dims: n *= d
                      params += n
                  elif a.name == 'value_float': params += 1
                  elif a.name == 'value_floats': params += len(a.floats)
                  elif a.name == 'sparse_value' and a.sparse_tensor.values.data_type in FLOATS:
                      n = 1
                      for d in a.sparse_tensor.dims: n *= d
                      params += n
          for a in node.attribute:
              if a.type == onnx.AttributeProto.GRAPH: walk(a.g)
              for sg in a.graphs: walk(sg)
  walk(m.graph)
  def shape(vi):
      if not vi.type.HasField('tensor_type') or not vi.type.tensor_type.HasField('shape'): return None
      return [d.dim_value if d.HasField('dim_value') else (d.dim_param or None) for d in vi.type.tensor_type.shape.dim]
  inits = {t.name for t in m.graph.initializer}
  return {
    'floatParameters': params,
    'ops': {('%s.%s' % k if k[0] else k[1]): v for k, v in ops.items()},
    'inputs': [{'name': i.name, 'shape': shape(i)} for i in m.graph.input if i.name not in inits],
    'outputs': [{'name': o.name, 'shape': shape(o)} for o in m.graph.output],
  }
print(json.dumps([read(p) for p in sys.argv[1:]]))
`;

export interface OnnxOracle {
  floatParameters: number;
  /** 'Conv' or 'com.microsoft.MatMulNBits' → count. */
  ops: Record<string, number>;
  inputs: { name: string; shape: (number | string | null)[] | null }[];
  outputs: { name: string; shape: (number | string | null)[] | null }[];
}

/** One Python run for all `files` (start-up dominates). */
export function onnxOracle(files: readonly string[]): OnnxOracle[] {
  const out = execFileSync('/usr/bin/python3', ['-c', SCRIPT, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out) as OnnxOracle[];
}
