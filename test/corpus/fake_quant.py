"""Independent int8 round trip of named weights of an ONNX model, for test/corpus/silero-oracle.test.ts.

    fake_quant.py IN OUT NAME_PART...

Every float constant (initializer or Constant node, in any subgraph) whose name contains one of the
NAME_PARTs is replaced by numpy's symmetric per-row int8 round trip along axis 0:
scale = max|w| / 127 per row (float32), q = clip(rint(w / scale), -127, 127), w' = q * scale.
Written from the DequantizeLinear definition, not from mc's code.
"""
import sys
import numpy as np
import onnx
from onnx import numpy_helper


def round_trip(w):
    w = w.astype(np.float32)
    flat = w.reshape(w.shape[0], -1)
    scale = (np.abs(flat).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    scale[scale == 0] = 1
    q = np.clip(np.rint(flat / scale), -127, 127).astype(np.float32)
    return (q * scale).astype(np.float32).reshape(w.shape)


def main():
    src, dst, *parts = sys.argv[1:]
    m = onnx.load(src)
    done = []

    def hit(name):
        return any(p in name for p in parts)

    def walk(g):
        for i, t in enumerate(g.initializer):
            if hit(t.name) and t.data_type == onnx.TensorProto.FLOAT:
                g.initializer[i].CopyFrom(numpy_helper.from_array(round_trip(numpy_helper.to_array(t)), t.name))
                done.append(t.name)
        for n in g.node:
            if n.op_type == 'Constant' and hit(n.output[0]):
                for a in n.attribute:
                    if a.name == 'value' and a.t.data_type == onnx.TensorProto.FLOAT:
                        a.t.CopyFrom(numpy_helper.from_array(round_trip(numpy_helper.to_array(a.t)), a.t.name))
                        done.append(n.output[0])
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)

    walk(m.graph)
    if not done:
        sys.exit('no float constant matched ' + ', '.join(parts))
    onnx.save(m, dst)
    print('\n'.join(done))


main()
