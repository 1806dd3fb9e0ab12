"""Zero counts of the Conv/Gemm weights of an ONNX model, in every graph (If/Loop/Scan bodies too).

Oracle for mc prune (test/corpus/prune.test.ts), read with the onnx package: a weight is the
second input of a Conv or Gemm, found among the initializers and Constant nodes of its own graph or an
enclosing one. Prints JSON: one {graph depth, op, shape, zeros, size} per node, in graph order.

  python3 prune_zeros.py MODEL.onnx
"""
import json
import sys

import onnx
from onnx import AttributeProto, numpy_helper


def walk(graph, consts, depth, rows):
    consts = dict(consts)
    consts.update({t.name: numpy_helper.to_array(t) for t in graph.initializer})
    for n in graph.node:
        if n.op_type == 'Constant':
            for a in n.attribute:
                if a.name == 'value':
                    consts[n.output[0]] = numpy_helper.to_array(a.t)
    for n in graph.node:
        if n.op_type in ('Conv', 'Gemm') and len(n.input) > 1 and n.input[1] in consts:
            w = consts[n.input[1]]
            rows.append({'depth': depth, 'op': n.op_type, 'shape': list(w.shape), 'zeros': int((w == 0).sum()), 'size': int(w.size)})
        for a in n.attribute:
            if a.type == AttributeProto.GRAPH:
                walk(a.g, consts, depth + 1, rows)
            elif a.type == AttributeProto.GRAPHS:
                for g in a.graphs:
                    walk(g, consts, depth + 1, rows)
    return rows


if __name__ == '__main__':
    print(json.dumps(walk(onnx.load(sys.argv[1]).graph, {}, 0, [])))
