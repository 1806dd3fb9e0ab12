#!/usr/bin/python3
"""An independent count of an ONNX model's parameters, with the reference `onnx` package.

Usage: /usr/bin/python3 test/corpus/onnx_params.py MODEL.onnx... -> one JSON array on stdout;
       /usr/bin/python3 test/corpus/onnx_params.py --self-test FOLDER -> counts a model built by hand (exit 1 on a mismatch).

Written from the ONNX spec (onnx.ai/onnx/repo-docs/IR.md, Operators.md), not from mc's code. It counts
what mc calls parameters (issue 10 §1: weights wherever the file keeps them):

  the elements of every constant tensor that holds learned values, where the constants are
    - the initializers (and sparse initializers) of the main graph and of every subgraph
      (the `g`/`graphs` attributes of If, Loop, Scan and any other node, recursively), and
    - the outputs of `Constant` nodes, in the main graph and in every subgraph: attribute `value`
      (a TensorProto), `sparse_value` (counted by its dense dims), `value_float` (1 float),
      `value_floats` (n floats), `value_int` (1 int64), `value_ints` (n int64); strings never count;
  and a constant holds learned values when
    - its type is a floating-point type (float, float16, double, bfloat16, the float8/float4 types), or
    - its type is an integer type and some node (in its graph or a nested one, by name through the
      scopes) reads it at a weight input: WEIGHT_SLOTS below.
  A constant defined once is counted once, however many nodes read it. MatMulNBits' packed B stands
  for N*K weights (its attributes), not its byte count.

Besides the total it reports the part held by Constant nodes and the part held inside subgraphs
(so a failing comparison says where the difference lies), the bytes of the learned constants per
data type, and the graph inputs (name, dtype, shape with symbolic dims as strings) for the tests'
input synthesis.
"""
import json
import sys

import onnx
from onnx import AttributeProto, TensorProto

# TensorProto.DataType numbers (onnx.proto). 17-20 are the float8 types, 23 float4e2m1: named by
# number because Debian's onnx 1.12 predates them.
FLOAT_TYPES = {1: 'float32', 10: 'float16', 11: 'float64', 16: 'bfloat16',
               17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz', 23: 'float4e2m1'}
INT_TYPES = {2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 12: 'uint32', 13: 'uint64',
             21: 'uint4', 22: 'int4'}
OTHER_TYPES = {8: 'string', 9: 'bool', 14: 'complex64', 15: 'complex128'}
BITS = {'float32': 32, 'float16': 16, 'float64': 64, 'bfloat16': 16, 'float8e4m3fn': 8, 'float8e4m3fnuz': 8,
        'float8e5m2': 8, 'float8e5m2fnuz': 8, 'float4e2m1': 4, 'uint8': 8, 'int8': 8, 'uint16': 16, 'int16': 16,
        'int32': 32, 'int64': 64, 'uint32': 32, 'uint64': 64, 'uint4': 4, 'int4': 4}

# Inputs that hold weights, per (domain, op_type), from the operator specs: the learned operands of
# the linear ops (Conv/ConvTranspose W and B, Gemm B and C, MatMul and Einsum operands), the
# recurrent ops (W, R, B and LSTM's peepholes P), the normalisations' scale/bias/statistics, and the
# quantized weights of the quantized ops (DequantizeLinear/QuantizeLinear x, QLinearConv w,
# QLinearMatMul b, MatMulInteger B, ConvInteger w, com.microsoft MatMulNBits B). Only integer
# constants consult this table; float constants always count.
WEIGHT_SLOTS = {
    ('', 'Conv'): {1, 2},
    ('', 'ConvTranspose'): {1, 2},
    ('', 'Gemm'): {1, 2},
    ('', 'MatMul'): {0, 1},
    ('', 'Einsum'): {0, 1},
    ('', 'LSTM'): {1, 2, 3, 7},
    ('', 'GRU'): {1, 2, 3},
    ('', 'RNN'): {1, 2, 3},
    ('', 'BatchNormalization'): {1, 2, 3, 4},
    ('', 'LayerNormalization'): {1, 2},
    ('', 'DequantizeLinear'): {0},
    ('', 'QuantizeLinear'): {0},
    ('com.microsoft', 'DequantizeLinear'): {0},
    ('com.microsoft', 'QuantizeLinear'): {0},
    ('com.microsoft', 'MatMulNBits'): {1},
    ('', 'QLinearConv'): {3},
    ('', 'QLinearMatMul'): {3},
    ('', 'MatMulInteger'): {1},
    ('', 'ConvInteger'): {1},
}


def domain_of(node):
    return '' if node.domain in ('', 'ai.onnx') else node.domain


def product(dims):
    n = 1
    for d in dims:
        n *= d
    return n


class Constant:
    """One constant tensor: where it is defined, its type and element count, and whether a weight slot reads it."""

    def __init__(self, name, dtype, elements, from_constant_node, in_subgraph):
        self.name = name
        self.dtype = dtype
        self.elements = elements
        self.from_constant_node = from_constant_node
        self.in_subgraph = in_subgraph
        self.weight_use = False
        self.logical_elements = None  # MatMulNBits B: N*K

    def learned(self):
        return self.dtype in FLOAT_TYPES.values() or (self.dtype in INT_TYPES.values() and self.weight_use)

    def count(self):
        return self.logical_elements if self.logical_elements is not None else self.elements


def type_name(code):
    return FLOAT_TYPES.get(code) or INT_TYPES.get(code) or OTHER_TYPES.get(code) or 'type%d' % code


def constant_node_tensor(node):
    """(dtype, elements) of a Constant node's output, from whichever value attribute it sets."""
    for a in node.attribute:
        if a.name == 'value':
            return type_name(a.t.data_type), product(a.t.dims)
        if a.name == 'sparse_value':
            return type_name(a.sparse_tensor.values.data_type), product(a.sparse_tensor.dims)
        if a.name == 'value_float':
            return 'float32', 1
        if a.name == 'value_floats':
            return 'float32', len(a.floats)
        if a.name == 'value_int':
            return 'int64', 1
        if a.name == 'value_ints':
            return 'int64', len(a.ints)
        if a.name in ('value_string', 'value_strings'):
            return 'string', 1 if a.name == 'value_string' else len(a.strings)
    raise ValueError('Constant node %r sets no value attribute' % node.name)


def subgraphs(node):
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            yield a.g
        elif a.type == AttributeProto.GRAPHS:
            yield from a.graphs


def read(path):
    model = onnx.load(path, load_external_data=False)
    constants = []

    def walk(graph, outer, depth):
        # A graph's scope: its own constants over the enclosing graphs' (names resolve innermost first).
        scope = dict(outer)
        in_sub = depth > 0
        for t in graph.initializer:
            c = Constant(t.name, type_name(t.data_type), product(t.dims), False, in_sub)
            constants.append(c)
            scope[t.name] = c
        for s in graph.sparse_initializer:
            c = Constant(s.values.name, type_name(s.values.data_type), product(s.dims), False, in_sub)
            constants.append(c)
            scope[c.name] = c
        # Graph inputs shadow constants of enclosing scopes with the same name (a subgraph's formal inputs).
        for i in graph.input:
            if i.name not in {t.name for t in graph.initializer}:
                scope.pop(i.name, None)
        for node in graph.node:
            if node.op_type == 'Constant' and domain_of(node) == '':
                dtype, n = constant_node_tensor(node)
                c = Constant(node.output[0], dtype, n, True, in_sub)
                constants.append(c)
                scope[node.output[0]] = c
                continue
            slots = WEIGHT_SLOTS.get((domain_of(node), node.op_type), set())
            for k, name in enumerate(node.input):
                c = scope.get(name) if name else None
                if c is None:
                    continue
                if k in slots:
                    c.weight_use = True
                    if (domain_of(node), node.op_type, k) == ('com.microsoft', 'MatMulNBits', 1):
                        attrs = {a.name: a.i for a in node.attribute}
                        c.logical_elements = attrs['N'] * attrs['K']
            for g in subgraphs(node):
                walk(g, scope, depth + 1)
            # A node's outputs are no longer the constants of the same name from an outer scope.
            for o in node.output:
                scope.pop(o, None)

    walk(model.graph, {}, 0)
    learned = [c for c in constants if c.learned()]
    by_dtype = {}
    for c in learned:
        d = by_dtype.setdefault(c.dtype, {'tensors': 0, 'elements': 0, 'bytes': 0})
        d['tensors'] += 1
        d['elements'] += c.count()
        d['bytes'] += (c.elements * BITS[c.dtype] + 7) // 8

    def value_info(vi):
        tt = vi.type.tensor_type
        shape = None
        if tt.HasField('shape'):
            shape = [d.dim_value if d.HasField('dim_value') else (d.dim_param or None) for d in tt.shape.dim]
        return {'name': vi.name, 'dtype': type_name(tt.elem_type), 'shape': shape}

    inits = {t.name for t in model.graph.initializer}
    return {
        'path': path,
        'parameters': sum(c.count() for c in learned),
        'constantNodeParameters': sum(c.count() for c in learned if c.from_constant_node),
        'subgraphParameters': sum(c.count() for c in learned if c.in_subgraph),
        'integerParameters': sum(c.count() for c in learned if c.dtype in INT_TYPES.values()),
        'learnedTensors': len(learned),
        'byDtype': by_dtype,
        'inputs': [value_info(i) for i in model.graph.input if i.name not in inits],
        'outputs': [value_info(o) for o in model.graph.output],
    }


def self_test(folder):
    """Counts a model built here by hand, with one constant of each kind, against the sum written out below."""
    import os
    from onnx import helper as h
    f32, i64, i8 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT8
    then_g = h.make_graph(
        [h.make_node('Constant', [], ['w_then'], value=h.make_tensor('w_then', f32, [2, 3], [0.5] * 6)),            # 6, subgraph
         h.make_node('DequantizeLinear', ['q_outer', 's'], ['dq_then']),                                             # q_outer read here
         h.make_node('MatMul', ['x', 'dq_then'], ['mm_then']),
         h.make_node('MatMul', ['mm_then', 'w_then'], ['y_then'])],
        'then', [], [h.make_tensor_value_info('y_then', f32, [1, 2])])
    else_g = h.make_graph(
        [h.make_node('Constant', [], ['shape_else'], value=h.make_tensor('shape_else', i64, [2], [1, 2])),        # int64 shape: 0
         h.make_node('Constant', [], ['q_else'], value=h.make_tensor('q_else', i8, [2], [1, 2])),                # int8, no weight slot: 0
         h.make_node('Reshape', ['x', 'shape_else'], ['y_else'])],
        'else', [], [h.make_tensor_value_info('y_else', f32, [1, 2])])
    main = h.make_graph(
        [h.make_node('Constant', [], ['c_floats'], value_floats=[1.0, 2.0, 3.0]),                                  # 3
         h.make_node('Constant', [], ['c_float'], value_float=0.2),                                                 # 1
         h.make_node('Constant', [], ['c_ints'], value_ints=[1, 2]),                                                # int64, no slot: 0
         h.make_node('Constant', [], ['s'], value=h.make_tensor('s', f32, [], [0.1])),                              # 1
         h.make_node('Constant', [], ['cond'], value=h.make_tensor('cond', TensorProto.BOOL, [], [True])),          # bool: 0
         h.make_node('If', ['cond'], ['y'], then_branch=then_g, else_branch=else_g)],
        'main', [h.make_tensor_value_info('x', f32, [1, 2])], [h.make_tensor_value_info('y', f32, [1, 2])],
        initializer=[h.make_tensor('q_outer', i8, [2, 2], [1, 2, 3, 4]),                                           # 4: int8 read by DequantizeLinear in a subgraph
                     h.make_tensor('w_init', f32, [4], [0.0] * 4),                                                  # 4: float, unused
                     h.make_tensor('idx_init', i64, [3], [0, 1, 2])])                                               # int64, unused: 0
    model = h.make_model(main, opset_imports=[h.make_opsetid('', 13)])
    path = os.path.join(folder, 'self-test.onnx')
    onnx.save(model, path)
    got = read(path)
    want = {'parameters': 6 + 3 + 1 + 1 + 4 + 4, 'constantNodeParameters': 6 + 3 + 1 + 1, 'subgraphParameters': 6, 'integerParameters': 4}
    for k, v in want.items():
        if got[k] != v:
            raise SystemExit('self-test: %s = %r, expected %r' % (k, got[k], v))
    print(json.dumps(got))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--self-test']:
        self_test(sys.argv[2])
    else:
        print(json.dumps([read(p) for p in sys.argv[1:]]))
