/**
 * @jest-environment ./test/helpers/onnx-ort-environment.js
 */
import * as ort from 'onnxruntime-node';
import {
  decodeOnnx, decodeTensorProto, dtypeFromOnnx, dtypeToOnnx, encodeOnnx, encodeTensorProto,
} from '../../src/formats/onnx';
import { proto } from '../../src/formats/onnx/schema';
import { protoEqual } from '../../src/formats/onnx/type-codec';
import { Graph, Model, Node, Tensor, Value } from '../../src/ir';
import { buildInt4DequantModel } from '../helpers/onnx-build';
import { runOnce } from '../helpers/onnx-ort';

function tensorBytes(obj: object): Uint8Array {
  return proto.TensorProto.encode(obj).finish();
}

describe('dtype codes', () => {
  test('map both ways, including sub-byte and float8 types', () => {
    expect(dtypeFromOnnx(22)).toBe('int4');
    expect(dtypeFromOnnx(21)).toBe('uint4');
    expect(dtypeFromOnnx(17)).toBe('float8e4m3fn');
    expect(dtypeFromOnnx(23)).toBe('float4e2m1');
    expect(dtypeFromOnnx(24)).toBe('undefined'); // FLOAT8E8M0: kept by code, unknown to the IR
    for (let c = 1; c <= 23; c++) expect(dtypeToOnnx(dtypeFromOnnx(c))).toBe(c);
  });
});

describe('TensorProto typed fields decode to packed bytes and re-encode to the same field', () => {
  const cases: [string, object, number[]][] = [
    ['float16 in int32_data', { dims: [2], data_type: 10, int32_data: [0x3c00, 0xc000] }, [0x00, 0x3c, 0x00, 0xc0]],
    ['int8 in int32_data (sign-extended)', { dims: [2], data_type: 3, int32_data: [-1, 5] }, [0xff, 0x05]],
    ['int4 in int32_data (one packed byte per int32)', { dims: [3], data_type: 22, int32_data: [0x21, 0x0f] }, [0x21, 0x0f]],
    ['uint32 in uint64_data', { dims: [1], data_type: 12, uint64_data: [4000000000] }, [0x00, 0x28, 0x6b, 0xee]],
    ['float64 in double_data', { dims: [1], data_type: 11, double_data: [1.5] }, [0, 0, 0, 0, 0, 0, 0xf8, 0x3f]],
    ['int64 in int64_data', { dims: [1], data_type: 7, int64_data: [-2] }, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['float8e4m3fn in raw_data', { dims: [2], data_type: 17, raw_data: Uint8Array.of(0x38, 0xb8) }, [0x38, 0xb8]],
  ];
  test.each(cases)('%s', (_name, obj, want) => {
    const bytes = tensorBytes(obj);
    const t = decodeTensorProto(bytes);
    expect(Array.from(t.bytes())).toEqual(want);
    expect(Buffer.from(encodeTensorProto(t)).equals(Buffer.from(bytes))).toBe(true);
  });

  test('float16 values decode correctly', () => {
    const t = decodeTensorProto(tensorBytes({ dims: [2], data_type: 10, int32_data: [0x3c00, 0xc000] }));
    expect(Array.from(t.toFloat32())).toEqual([1, -2]);
  });

  test('a tensor whose data was replaced is written as raw_data', () => {
    const t = decodeTensorProto(tensorBytes({ dims: [2], data_type: 1, float_data: [1, 2], name: 'c' }));
    t.setData('float32', [2], { kind: 'bytes', bytes: new Uint8Array(Float32Array.of(3, 4).buffer) });
    const back = proto.TensorProto.decode(encodeTensorProto(t)) as unknown as { raw_data?: Uint8Array; float_data: number[] };
    expect(back.float_data).toEqual([]);
    expect(Array.from(new Float32Array(Uint8Array.from(back.raw_data!).buffer))).toEqual([3, 4]);
  });
});

describe('int4 weights', () => {
  test('an INT4 initializer with DequantizeLinear(block_size) round-trips and runs in onnxruntime', async () => {
    const rows = 4;
    const cols = 8;
    const block = 4;
    const q = Int8Array.from({ length: rows * cols }, (_, i) => ((i * 5) % 16) - 8);
    const scales = Float32Array.from({ length: rows * (cols / block) }, (_, i) => 0.25 * (i + 1));
    const model = buildInt4DequantModel(q, rows, cols, scales, block);
    const bytes = encodeOnnx(model);
    const back = decodeOnnx(bytes);
    const wq = back.graph.initializers[0].const!;
    expect(wq.dtype).toBe('int4');
    expect(Array.from(wq.typed() as Int8Array)).toEqual(Array.from(q));
    expect(Buffer.from(encodeOnnx(back)).equals(Buffer.from(bytes))).toBe(true);

    const out = await runOnce(bytes, { X: new ort.Tensor('float32', new Float32Array(rows * cols), [rows, cols]) });
    const y = (out.Y as ort.Tensor).data as Float32Array;
    // Blocked dequantization (ONNX DequantizeLinear-21): y[r][c] = q[r][c] * scale[r][floor(c / block_size)].
    const want = Float32Array.from(q, (v, i) => v * scales[Math.floor(i / cols) * (cols / block) + Math.floor((i % cols) / block)]);
    expect(Array.from(y)).toEqual(Array.from(want));
  });
});

describe('graphs', () => {
  test('a subgraph reading an outer-scope name is wired to the outer Value, and runs in ORT', async () => {
    const g = new Graph();
    g.name = 'main';
    const cond = new Value('cond', { dtype: 'bool', shape: [] });
    const x = new Value('X', { dtype: 'float32', shape: [2] });
    g.inputs.push(cond, x);
    const one = g.addInitializer('one', Tensor.fromArray('float32', [1], Float32Array.of(1), 'one'));
    const branch = (op: string, out: string): Graph => {
      const b = new Graph();
      b.name = op;
      const r = new Value(out, { dtype: 'float32', shape: [2] });
      b.addNode(new Node({ opType: op, inputs: [x, one], outputs: [r] }));
      b.outputs.push(r);
      return b;
    };
    const y = new Value('Y', { dtype: 'float32', shape: [2] });
    g.addNode(new Node({
      opType: 'If', name: 'if', inputs: [cond], outputs: [y],
      attributes: [{ name: 'then_branch', type: 'graph', value: branch('Add', 't') }, { name: 'else_branch', type: 'graph', value: branch('Sub', 'e') }],
    }));
    g.outputs.push(y);
    const m = new Model('onnx', g);
    m.irVersion = 8;
    m.opsetImports = [{ domain: '', version: 17 }];

    const decoded = decodeOnnx(encodeOnnx(m));
    const ifNode = decoded.graph.nodes[0];
    const thenGraph = ifNode.attributes.get('then_branch')!.value as Graph;
    expect(thenGraph.nodes[0].inputs[0]).toBe(decoded.graph.inputs[1]);
    expect(thenGraph.nodes[0].inputs[1]).toBe(decoded.graph.initializers[0]);
    expect(decoded.graph.inputs[1].uses.map((u) => u.node.opType).sort()).toEqual(['Add', 'Sub']);

    const feeds = (c: boolean): Record<string, ort.Tensor> => ({
      cond: new ort.Tensor('bool', Uint8Array.of(c ? 1 : 0), []),
      X: new ort.Tensor('float32', Float32Array.of(2, 5), [2]),
    });
    const bytes = encodeOnnx(decoded);
    expect(Array.from((await runOnce(bytes, feeds(true))).Y.data as Float32Array)).toEqual([3, 6]);
    expect(Array.from((await runOnce(bytes, feeds(false))).Y.data as Float32Array)).toEqual([1, 4]);
  });

  test('every ONNX 1.18 message and field survives decode → IR → encode byte for byte', () => {
    const md = [{ key: 'k', value: 'v' }];
    const f32 = (s: string): object => ({ tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: s, denotation: 'DATA_BATCH' }, { dim_value: 3 }, {}] } } });
    const original = proto.ModelProto.encode({
      ir_version: 11,
      opset_import: [{ domain: '', version: 23 }, { domain: 'custom', version: 1 }],
      producer_name: 'p', producer_version: '1', domain: 'd', model_version: 7, doc_string: 'model doc',
      graph: {
        node: [
          {
            input: ['X', '', 'S'], output: ['Y', ''], name: 'n0', op_type: 'Fn', domain: 'custom', overload: 'ov',
            attribute: [
              { name: 'alpha', type: 1, f: 0.5, doc_string: 'a' },
              { name: 'ints', type: 7, ints: [1, -1, '9223372036854775807'] },
              { name: 'strs', type: 8, strings: [Uint8Array.of(104, 105)] },
              { name: 'tp', type: 13, tp: { sequence_type: { elem_type: f32('N') } } },
              { name: 'sp', type: 11, sparse_tensor: { values: { dims: [1], data_type: 1, float_data: [2] }, indices: { dims: [1], data_type: 7, int64_data: [3] }, dims: [5] } },
            ],
            doc_string: 'node doc', metadata_props: md,
            device_configurations: [{ configuration_id: 'c', sharding_spec: [{ tensor_name: 'X', device: [0, 1], sharded_dim: [{ axis: 0, simple_sharding: [{ dim_value: 2, num_shards: 2 }] }] }], pipeline_stage: 1 }],
          },
        ],
        name: 'g',
        initializer: [{ dims: [2], data_type: 16, raw_data: Uint8Array.of(1, 2, 3, 4), name: 'B', doc_string: 'bf16', metadata_props: md }],
        sparse_initializer: [{ values: { dims: [1], data_type: 1, float_data: [1], name: 'S' }, indices: { dims: [1], data_type: 7, int64_data: [0] }, dims: [4] }],
        doc_string: 'graph doc',
        input: [{ name: 'X', type: f32('N'), doc_string: 'x', metadata_props: md }],
        output: [{ name: 'Y', type: { optional_type: { elem_type: f32('M') } } }],
        value_info: [{ name: 'Y', type: { tensor_type: { elem_type: 1 } }, doc_string: 'differs from the output info' }],
        quantization_annotation: [{ tensor_name: 'Y', quant_parameter_tensor_names: md }],
        metadata_props: md,
      },
      metadata_props: md,
      training_info: [{ initialization: { name: 'init' }, update_binding: md }],
      functions: [{
        name: 'Fn', input: ['a', 'b', 'c'], output: ['o', 'p'], attribute: ['alpha'],
        attribute_proto: [{ name: 'beta', type: 2, i: 4 }],
        node: [{ input: ['a', 'c'], output: ['o'], op_type: 'Add' }, { input: ['o'], output: ['p'], op_type: 'LeakyRelu', attribute: [{ name: 'alpha', type: 1, ref_attr_name: 'alpha' }] }],
        doc_string: 'fn', opset_import: [{ version: 23 }], domain: 'custom', overload: 'ov',
        value_info: [{ name: 'o', type: { tensor_type: { elem_type: 1 } } }], metadata_props: md,
      }],
      configuration: [{ name: 'cfg', num_devices: 2, device: ['a', 'b'] }],
    }).finish();
    const model = decodeOnnx(original);
    expect(model.functions[0].overload).toBe('ov');
    expect(model.graph.nodes[0].overload).toBe('ov');
    expect(model.graph.inputs[0].shape).toEqual(['N', 3, null]);
    const again = encodeOnnx(model);
    expect(protoEqual(proto.ModelProto.decode(original), proto.ModelProto.decode(again))).toBe(true);
    expect(Buffer.from(again).equals(Buffer.from(original))).toBe(true);
  });
});
