import { Graph, MetadataProp, Model, ModelFunction, Node, OpsetImport, SparseTensor, Value } from '../../ir';
import { decodeAttribute, decodeSparse } from './attribute-codec';
import {
  FunctionProto, GraphProto, has, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, toBigInt, toNumber, ValueInfoProto,
} from './proto-types';
import { decodeTensor, TensorDecodeContext } from './tensor-codec';
import { applyValueInfo, sameValueInfo } from './type-codec';

/** Graph.extra for graphs decoded from ONNX: what the IR does not model. */
export interface OnnxGraphExtra {
  readonly format: 'onnx';
  nameAbsent?: boolean;
  quantizationAnnotation?: object[];
  /**
   * ValueInfoProtos of graph outputs whose Value already carries different type
   * information (an output that is also an input, or an outer-scope value).
   * Keyed by output index; used only while the output keeps that name.
   */
  outputInfo?: Record<number, ValueInfoProto>;
  /** Set on a function body: FunctionProto fields the IR does not model. */
  functionDomainAbsent?: boolean;
  /** Set on a function body: opset-import domains written without a domain field. */
  opsetDomainAbsent?: string[];
}

/** Node.extra for nodes decoded from ONNX. */
export interface OnnxNodeExtra {
  readonly format: 'onnx';
  nameAbsent?: boolean;
  domainAbsent?: boolean;
  deviceConfigurations?: object[];
}

/** Model.extra for models decoded from ONNX. */
export interface OnnxModelExtra {
  readonly format: 'onnx';
  trainingInfo?: object[];
  configuration?: object[];
  /** Domains of opset imports written without a domain field (the default domain, in old files). */
  opsetDomainAbsent?: string[];
}

/** Names visible to a graph: its own values, then the enclosing graphs' (subgraph outer-scope reads). */
class Scope {
  private readonly names = new Map<string, Value>();
  /** Values read before any producer appeared (nodes out of order, or dangling names). */
  private readonly pending = new Map<string, Value>();
  constructor(private readonly parent?: Scope) {}

  lookup(name: string): Value | undefined {
    return this.names.get(name) ?? this.parent?.lookup(name);
  }

  /** The value a node input or graph output refers to, creating a placeholder if none exists yet. */
  read(name: string): Value {
    const v = this.lookup(name) ?? this.pending.get(name);
    if (v) return v;
    const placeholder = new Value(name);
    this.pending.set(name, placeholder);
    return placeholder;
  }

  /** A fresh value for a new definition; a forward reference's placeholder is reused so readers stay wired. */
  define(name: string, create: () => Value = () => new Value(name)): Value {
    const p = this.pending.get(name);
    let v: Value;
    if (p && !p.producer) {
      this.pending.delete(name);
      v = p;
    } else {
      v = create();
    }
    this.names.set(name, v);
    return v;
  }

  bind(name: string, v: Value): void {
    this.names.set(name, v);
  }

  ownHas(name: string): Value | undefined {
    return this.names.get(name);
  }
}

class GraphDecoder {
  /** The ValueInfoProto each value's type came from, so a second, different one is kept aside. */
  private readonly infoOf = new WeakMap<Value, ValueInfoProto>();

  constructor(private readonly ctx: TensorDecodeContext) {}

  graph(gp: GraphProto, outer?: Scope): Graph {
    const g = new Graph();
    const extra: OnnxGraphExtra = { format: 'onnx' };
    const scope = new Scope(outer);
    if (has(gp, 'name')) g.name = gp.name!;
    else extra.nameAbsent = true;
    if (has(gp, 'doc_string')) g.docString = gp.doc_string;

    for (const vi of gp.input ?? []) {
      const v = new Value(vi.name ?? '');
      this.claim(v, vi);
      scope.bind(v.name, v);
      g.inputs.push(v);
    }
    for (const tp of gp.initializer ?? []) {
      const t = decodeTensor(tp, this.ctx);
      const input = scope.ownHas(t.name);
      // IR < 4 lists initializers as graph inputs too: the input and the initializer are one value.
      const v = input && !input.const && g.inputs.includes(input)
        ? input
        : scope.define(t.name, () => new Value(t.name, { dtype: t.dtype, shape: [...t.shape] }));
      if (v !== input && v.dtype === undefined) {
        v.dtype = t.dtype;
        v.shape = [...t.shape];
      }
      v.const = t;
      g.initializers.push(v);
    }
    for (const sp of gp.sparse_initializer ?? []) {
      const s: SparseTensor = decodeSparse(sp, this.ctx);
      g.sparseInitializers.push(s);
      // Nodes refer to a sparse initializer by its values' name; give them a value to read.
      const name = s.values.name;
      if (name && !scope.ownHas(name)) scope.define(name, () => new Value(name, { dtype: s.values.dtype, shape: [...s.dims] }));
    }
    for (const np of gp.node ?? []) g.addNode(this.node(np, scope));

    (gp.output ?? []).forEach((vi, i) => {
      const v = scope.read(vi.name ?? '');
      if (!this.claim(v, vi)) (extra.outputInfo ??= {})[i] = vi;
      g.outputs.push(v);
    });
    for (const vi of gp.value_info ?? []) {
      const found = scope.lookup(vi.name ?? '');
      let v = found ?? new Value(vi.name ?? '');
      if (!this.claim(v, vi)) {
        v = new Value(vi.name ?? '');
        this.claim(v, vi);
      }
      g.valueInfos.push(v);
    }
    if (gp.quantization_annotation?.length) extra.quantizationAnnotation = gp.quantization_annotation;
    if (gp.metadata_props?.length) g.metadataProps = entries(gp.metadata_props);
    if (extra.nameAbsent || extra.quantizationAnnotation || extra.outputInfo) g.extra = extra;
    return g;
  }

  /** Applies a ValueInfoProto to a value unless a different one already typed it; false when it did. */
  private claim(v: Value, vi: ValueInfoProto): boolean {
    const prev = this.infoOf.get(v);
    if (prev) return sameValueInfo(prev, vi);
    this.infoOf.set(v, vi);
    applyValueInfo(v, vi);
    return true;
  }

  node(np: NodeProto, scope: Scope): Node {
    const extra: OnnxNodeExtra = { format: 'onnx' };
    const inputs = (np.input ?? []).map((name) => (name === '' ? null : scope.read(name)));
    const attributes = (np.attribute ?? []).map((a) =>
      decodeAttribute(a, { ...this.ctx, decodeGraph: (gp) => this.graph(gp, scope) }));
    const outputs = (np.output ?? []).map((name) => (name === '' ? new Value('') : scope.define(name)));
    const n = new Node({ opType: np.op_type ?? '', domain: np.domain ?? '', name: np.name ?? '', inputs, outputs, attributes });
    if (!has(np, 'name')) extra.nameAbsent = true;
    if (!has(np, 'domain')) extra.domainAbsent = true;
    if (has(np, 'overload')) n.overload = np.overload;
    if (has(np, 'doc_string')) n.docString = np.doc_string;
    if (np.metadata_props?.length) n.metadataProps = entries(np.metadata_props);
    if (np.device_configurations?.length) extra.deviceConfigurations = np.device_configurations;
    if (extra.nameAbsent || extra.domainAbsent || extra.deviceConfigurations) n.extra = extra;
    return n;
  }

  function(fp: FunctionProto): ModelFunction {
    const body = new Graph();
    const scope = new Scope();
    const extra: OnnxGraphExtra = { format: 'onnx', nameAbsent: true };
    for (const name of fp.input ?? []) {
      const v = new Value(name);
      scope.bind(name, v);
      body.inputs.push(v);
    }
    for (const np of fp.node ?? []) body.addNode(this.node(np, scope));
    for (const name of fp.output ?? []) body.outputs.push(scope.read(name));
    for (const vi of fp.value_info ?? []) {
      const v = scope.lookup(vi.name ?? '') ?? new Value(vi.name ?? '');
      applyValueInfo(v, vi);
      body.valueInfos.push(v);
    }
    if (!has(fp, 'domain')) extra.functionDomainAbsent = true;
    const absent = (fp.opset_import ?? []).filter((o) => !has(o, 'domain')).map((o) => o.domain ?? '');
    if (absent.length) extra.opsetDomainAbsent = absent;
    body.extra = extra;
    const f: ModelFunction = {
      name: fp.name ?? '',
      domain: fp.domain ?? '',
      attributes: [...(fp.attribute ?? [])],
      attributeDefaults: (fp.attribute_proto ?? []).map((a) => decodeAttribute(a, { ...this.ctx, decodeGraph: (gp) => this.graph(gp, scope) })),
      body,
      opsetImports: (fp.opset_import ?? []).map(opset),
    };
    if (has(fp, 'overload')) f.overload = fp.overload;
    if (has(fp, 'doc_string')) f.docString = fp.doc_string;
    if (fp.metadata_props?.length) f.metadataProps = entries(fp.metadata_props);
    return f;
  }
}

function entries(list: StringStringEntryProto[]): MetadataProp[] {
  return list.map((e) => ({ key: e.key ?? '', value: e.value ?? '' }));
}

function opset(o: OperatorSetIdProto): OpsetImport {
  return { domain: o.domain ?? '', version: o.version === undefined ? 0 : toNumber(o.version) };
}

/** Builds the IR for a decoded ModelProto. */
export function modelFromProto(mp: ModelProto, ctx: TensorDecodeContext): Model {
  const dec = new GraphDecoder(ctx);
  const model = new Model('onnx', dec.graph(mp.graph ?? {}));
  const extra: OnnxModelExtra = { format: 'onnx' };
  if (has(mp, 'ir_version')) model.irVersion = toNumber(mp.ir_version!);
  model.opsetImports = (mp.opset_import ?? []).map(opset);
  const absent = (mp.opset_import ?? []).filter((o) => !has(o, 'domain')).map((o) => o.domain ?? '');
  if (absent.length) extra.opsetDomainAbsent = absent;
  if (has(mp, 'producer_name')) model.producerName = mp.producer_name;
  if (has(mp, 'producer_version')) model.producerVersion = mp.producer_version;
  if (has(mp, 'domain')) model.domain = mp.domain;
  if (has(mp, 'model_version')) model.modelVersion = toBigInt(mp.model_version!);
  if (has(mp, 'doc_string')) model.docString = mp.doc_string;
  model.metadataProps = entries(mp.metadata_props ?? []);
  model.functions = (mp.functions ?? []).map((f) => dec.function(f));
  if (mp.training_info?.length) extra.trainingInfo = mp.training_info;
  if (mp.configuration?.length) extra.configuration = mp.configuration;
  if (extra.trainingInfo || extra.configuration || extra.opsetDomainAbsent) model.extra = extra;
  return model;
}
