import { Attribute, Graph, MetadataProp, Model, ModelFunction, Node, OpsetImport, Value } from '../../ir';
import { encodeAttribute, encodeSparse, AttributeEncodeContext } from './attribute-codec';
import type { OnnxGraphExtra, OnnxModelExtra, OnnxNodeExtra } from './graph-decode';
import {
  FunctionProto, fromBigInt, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
} from './proto-types';
import { encodeTensor, TensorEncodeContext } from './tensor-codec';
import { encodeValueInfo } from './type-codec';

function onnxExtra<T extends { format: 'onnx' }>(x: unknown): T | undefined {
  return typeof x === 'object' && x !== null && (x as { format?: unknown }).format === 'onnx' ? (x as T) : undefined;
}

function entries(list: readonly MetadataProp[] | undefined): StringStringEntryProto[] | undefined {
  return list?.length ? list.map((e) => ({ key: e.key, value: e.value })) : undefined;
}

function opsets(list: readonly OpsetImport[], domainAbsent: readonly string[] | undefined): OperatorSetIdProto[] {
  return list.map((o) => {
    const domain = o.domain === 'ai.onnx' ? '' : o.domain;
    return domainAbsent?.includes(domain) && domain === '' ? { version: o.version } : { domain: o.domain, version: o.version };
  });
}

class GraphEncoder {
  private readonly attrCtx: AttributeEncodeContext;

  constructor(private readonly ctx: TensorEncodeContext) {
    this.attrCtx = { ...ctx, encodeGraph: (g) => this.graph(g) };
  }

  graph(g: Graph): GraphProto {
    const extra = onnxExtra<OnnxGraphExtra>(g.extra);
    const gp: GraphProto = {};
    gp.node = g.nodes.map((n) => this.node(n));
    if (g.name !== '' || !extra?.nameAbsent) gp.name = g.name;
    gp.initializer = g.initializers.map((v) => {
      if (!v.const) throw new Error(`initializer '${v.name}' has no tensor`);
      return encodeTensor(v.const, v.name, this.ctx);
    });
    gp.sparse_initializer = g.sparseInitializers.map((s) => encodeSparse(s, this.ctx));
    if (g.docString !== undefined) gp.doc_string = g.docString;
    gp.input = g.inputs.map(encodeValueInfo);
    gp.output = g.outputs.map((v, i) => {
      const kept = extra?.outputInfo?.[i];
      return kept && kept.name === v.name ? kept : encodeValueInfo(v);
    });
    gp.value_info = g.valueInfos.map(encodeValueInfo);
    if (extra?.quantizationAnnotation) gp.quantization_annotation = extra.quantizationAnnotation;
    const md = entries(g.metadataProps);
    if (md) gp.metadata_props = md;
    return gp;
  }

  node(n: Node): NodeProto {
    const extra = onnxExtra<OnnxNodeExtra>(n.extra);
    const np: NodeProto = {
      input: n.inputs.map((v) => (v ? v.name : '')),
      output: n.outputs.map((v) => v.name),
    };
    if (n.name !== '' || !extra?.nameAbsent) np.name = n.name;
    np.op_type = n.opType;
    if (n.domain !== '' || !extra?.domainAbsent) np.domain = n.domain;
    if (n.overload !== undefined) np.overload = n.overload;
    np.attribute = [...n.attributes.values()].map((a: Attribute) => encodeAttribute(a, this.attrCtx));
    if (n.docString !== undefined) np.doc_string = n.docString;
    const md = entries(n.metadataProps);
    if (md) np.metadata_props = md;
    if (extra?.deviceConfigurations) np.device_configurations = extra.deviceConfigurations;
    return np;
  }

  function(f: ModelFunction): FunctionProto {
    const extra = onnxExtra<OnnxGraphExtra>(f.body.extra);
    const fp: FunctionProto = {
      name: f.name,
      input: f.body.inputs.map((v: Value) => v.name),
      output: f.body.outputs.map((v: Value) => v.name),
      attribute: [...f.attributes],
      attribute_proto: f.attributeDefaults.map((a) => encodeAttribute(a, this.attrCtx)),
      node: f.body.nodes.map((n) => this.node(n)),
      opset_import: opsets(f.opsetImports, extra?.opsetDomainAbsent),
      value_info: f.body.valueInfos.map(encodeValueInfo),
    };
    if (f.docString !== undefined) fp.doc_string = f.docString;
    if (f.domain !== '' || !extra?.functionDomainAbsent) fp.domain = f.domain;
    if (f.overload !== undefined) fp.overload = f.overload;
    const md = entries(f.metadataProps);
    if (md) fp.metadata_props = md;
    return fp;
  }
}

/** Builds a ModelProto object from the IR. `ctx.externalize` decides which tensors leave the message. */
export function modelToProto(model: Model, ctx: TensorEncodeContext): ModelProto {
  const extra = onnxExtra<OnnxModelExtra>(model.extra);
  const enc = new GraphEncoder(ctx);
  const mp: ModelProto = {};
  if (model.irVersion !== undefined) mp.ir_version = model.irVersion;
  mp.opset_import = opsets(model.opsetImports, extra?.opsetDomainAbsent);
  if (model.producerName !== undefined) mp.producer_name = model.producerName;
  if (model.producerVersion !== undefined) mp.producer_version = model.producerVersion;
  if (model.domain !== undefined) mp.domain = model.domain;
  if (model.modelVersion !== undefined) mp.model_version = fromBigInt(model.modelVersion);
  if (model.docString !== undefined) mp.doc_string = model.docString;
  mp.graph = enc.graph(model.graph);
  const md = entries(model.metadataProps);
  if (md) mp.metadata_props = md;
  if (extra?.trainingInfo) mp.training_info = extra.trainingInfo;
  mp.functions = model.functions.map((f) => enc.function(f));
  if (extra?.configuration) mp.configuration = extra.configuration;
  return mp;
}
