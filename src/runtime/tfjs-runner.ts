import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { DType, Dim, NumericArray } from '../ir';
import { InputError } from '../errors';
import { tfjsFileHandler } from '../formats/tfjs/file-io';
import type { TfjsArtifacts } from '../formats/tfjs';
import { initTfjs } from './tfjs-backend';
import type { HostTensor, ModelRunner, TensorInfo } from './runner';

type TfModel =
  | { kind: 'graph'; model: tf.GraphModel }
  | { kind: 'layers'; model: tf.LayersModel };

/** graph-model or layers-model, from model.json's `format` (older converters omit it: a graph topology has a node list). */
function isGraphModel(jsonPath: string): boolean {
  let json: { format?: unknown; modelTopology?: { node?: unknown } };
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as typeof json;
  } catch (e) {
    throw new InputError(`cannot read model.json: ${e instanceof Error ? e.message : String(e)}`, jsonPath);
  }
  if (json.format === 'graph-model') return true;
  if (json.format === 'layers-model') return false;
  return Array.isArray(json.modelTopology?.node);
}

function tfDType(d: string): DType | undefined {
  return d === 'float32' || d === 'int32' || d === 'bool' || d === 'string' ? d : undefined;
}

function dims(shape: readonly (number | null | undefined)[] | undefined): Dim[] | undefined {
  return shape?.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
}

/** tfjs holds int32/float32/bool only: narrow what the data gives us. */
function toTfTensor(t: HostTensor): tf.Tensor {
  const d = t.data;
  if (d instanceof Float32Array) return tf.tensor(d, t.shape, 'float32');
  if (d instanceof Int32Array) return tf.tensor(d, t.shape, 'int32');
  if (t.dtype === 'bool') return tf.tensor(d as Uint8Array, t.shape, 'bool');
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return tf.tensor(Int32Array.from(d, (x) => Number(x)), t.shape, 'int32');
  if (t.dtype.startsWith('float')) return tf.tensor(Float32Array.from(d as ArrayLike<number>), t.shape, 'float32');
  return tf.tensor(Int32Array.from(d as ArrayLike<number>), t.shape, 'int32');
}

async function fromTfTensor(t: tf.Tensor): Promise<HostTensor> {
  const data = (await t.data()) as NumericArray;
  const dtype = t.dtype === 'bool' ? 'bool' : t.dtype === 'int32' ? 'int32' : 'float32';
  return { dtype, shape: [...t.shape], data };
}

/** A ModelRunner over stock tfjs (loadGraphModel / loadLayersModel) on the best backend initTfjs finds. */
export class TfjsRunner implements ModelRunner {
  readonly runtime = 'tfjs';
  readonly threads = null;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];

  private constructor(private readonly m: TfModel, readonly backend: string) {
    if (m.kind === 'graph') {
      this.inputs = m.model.inputs.map((i) => ({ name: i.name, dtype: tfDType(i.dtype), shape: dims(i.shape) }));
      this.outputs = m.model.outputs.map((o) => ({ name: o.name, dtype: tfDType(o.dtype), shape: dims(o.shape) }));
    } else {
      // Named after their layers: symbolic tensor names get a process-wide "_1" suffix when a
      // model loads twice (baseline and candidate), layer names are what model.json says.
      this.inputs = m.model.inputs.map((i) => ({ name: i.sourceLayer.name, dtype: tfDType(i.dtype), shape: dims(i.shape) }));
      this.outputs = m.model.outputs.map((o) => ({ name: o.sourceLayer.name, dtype: tfDType(o.dtype), shape: dims(o.shape) }));
    }
  }

  /**
   * Loads a model held in memory: the exact model.json and weight bytes that
   * saveTfjs would write (formats/tfjs encodeTfjs), handed to stock tfjs
   * without touching disk. `label` names the model in errors.
   */
  static async fromArtifacts(a: TfjsArtifacts, label = 'model'): Promise<TfjsRunner> {
    const backend = await initTfjs();
    const graph = a.json.format === 'graph-model' || (a.json.format !== 'layers-model' && Array.isArray(a.json.modelTopology?.node));
    const handler: tf.io.IOHandler = {
      load: async (): Promise<tf.io.ModelArtifacts> => {
        // One concatenated buffer of every shard, as tfjsFileHandler passes it.
        const total = a.shards.reduce((s, x) => s + x.bytes.byteLength, 0);
        const all = new Uint8Array(total);
        let at = 0;
        for (const x of a.shards) { all.set(x.bytes, at); at += x.bytes.byteLength; }
        const json = JSON.parse(a.modelJson) as tf.io.ModelJSON;
        const artifacts: tf.io.ModelArtifacts = { ...json, weightSpecs: (json.weightsManifest ?? []).flatMap((g) => g.weights), weightData: all.buffer };
        delete (artifacts as { weightsManifest?: unknown }).weightsManifest;
        return artifacts;
      },
    };
    try {
      const m: TfModel = graph
        ? { kind: 'graph', model: await tf.loadGraphModel(handler) }
        : { kind: 'layers', model: await tf.loadLayersModel(handler) };
      return new TfjsRunner(m, backend);
    } catch (e) {
      throw new InputError(`tfjs cannot load the model: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, label);
    }
  }

  /** Loads a tfjs model from its folder or its model.json. */
  static async create(modelPath: string): Promise<TfjsRunner> {
    const jsonPath = fs.statSync(modelPath).isDirectory() ? path.join(modelPath, 'model.json') : modelPath;
    const backend = await initTfjs();
    const graph = isGraphModel(jsonPath);
    const handler = tfjsFileHandler(jsonPath);
    try {
      const m: TfModel = graph
        ? { kind: 'graph', model: await tf.loadGraphModel(handler) }
        : { kind: 'layers', model: await tf.loadLayersModel(handler) };
      return new TfjsRunner(m, backend);
    } catch (e) {
      throw new InputError(`tfjs cannot load the model: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, jsonPath);
    }
  }

  async run(feeds: ReadonlyMap<string, HostTensor>, fetch?: readonly string[]): Promise<Map<string, HostTensor>> {
    const names = fetch ?? this.outputs.map((o) => o.name);
    const inputs: tf.NamedTensorMap = {};
    for (const [name, t] of feeds) inputs[name] = toTfTensor(t);
    let outs: tf.Tensor[];
    try {
      if (this.m.kind === 'graph') {
        const r = await this.executeGraph(this.m.model, inputs, names);
        outs = Array.isArray(r) ? r : [r];
      } else {
        const ordered = this.inputs.map((i) => inputs[i.name]);
        const r = this.m.model.predict(ordered.length === 1 ? ordered[0] : ordered);
        const all = Array.isArray(r) ? r : [r];
        const outputNames = this.outputs.map((o) => o.name);
        outs = names.map((n) => all[outputNames.indexOf(n)]);
        for (const t of all) if (!outs.includes(t)) t.dispose();
      }
      const result = new Map<string, HostTensor>();
      for (let k = 0; k < names.length; k++) result.set(names[k], await fromTfTensor(outs[k]));
      for (const t of outs) t.dispose();
      return result;
    } finally {
      for (const t of Object.values(inputs)) t.dispose();
    }
  }

  /** true once a graph turned out to need executeAsync (control flow or dynamic shapes). */
  private needsAsync = false;

  /**
   * execute() when the graph allows it: executeAsync on a plain graph works too
   * but warns on stderr every call, which would garble mc's output.
   */
  private async executeGraph(model: tf.GraphModel, inputs: tf.NamedTensorMap, names: readonly string[]): Promise<tf.Tensor | tf.Tensor[]> {
    if (!this.needsAsync) {
      try {
        return model.execute(inputs, [...names]);
      } catch (e) {
        if (!(e instanceof Error && /executeAsync/.test(e.message))) throw e;
        this.needsAsync = true;
      }
    }
    return model.executeAsync(inputs, [...names]);
  }

  async dispose(): Promise<void> {
    this.m.model.dispose();
  }
}
