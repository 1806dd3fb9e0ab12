import type { Scalar, Variable } from '@tensorflow/tfjs';
import type * as tfjs from '@tensorflow/tfjs';
import { UnsupportedError } from '../errors';
import { attachStorage, getTfjsQuantization } from '../formats/tfjs/quantization';
import { float32ToFloat16Bytes, type Model, type Value } from '../ir';
import { Executor } from '../runtime/executor';
import type { T, TF } from '../runtime/executor';
import { tfjsArtifacts } from '../runtime/tfjs-grad-artifacts';
import { RunningBatchNorm, type BnMode } from './batchnorm-train';
import { checkTrainable, reachedParams, trainableParams } from './params';

/**
 * A model being trained: its trained weights as tf.Variables (same layout as the IR
 * constants they came from), a forward pass, the loss with its gradients, and the
 * write-back of the trained values into the IR.
 *
 *  - ONNX: mc's differentiable executor (ONNX ops on tfjs); the variables are fed as
 *    overrides of the constants, so the executor's own constants stay the weights as
 *    given: run without overrides, the same executor is the teacher (`reference`).
 *  - tfjs layers-model: stock tfjs (loadLayersModel from the IR's own bytes), whose
 *    trainable LayerVariables are the variables; BatchNormalization keeps its moving
 *    statistics frozen (apply with training: false), as the ONNX side does.
 *  - tfjs graph model: stock tfjs (loadGraphModel from the IR's own bytes), whose weight
 *    map entries at the parameter slots are swapped for variables (GraphTrainable).
 */
export interface Trainable {
  readonly params: readonly Value[];
  readonly vars: readonly Variable[];
  /** Weights at a trainable slot that the loss's output does not depend on (they feed other outputs only): left as they are. */
  readonly unreached: readonly Value[];
  /** The first output at the current weights. The caller disposes it. */
  predict(feeds: Readonly<Record<string, T>>): T;
  /** The first output of the model as given (before any training), when the engine keeps it; else null. */
  reference(feeds: Readonly<Record<string, T>>): T | null;
  lossAndGrads(feeds: Readonly<Record<string, T>>, loss: (out: T) => Scalar): { loss: number; grads: T[] };
  /** Saves what training steps change besides the variables (running BatchNormalization statistics); the result puts it back. */
  saveState(): () => void;
  /** BatchNormalization nodes trained with batch statistics (TrainableOptions.bnMode 'train'); none otherwise. */
  readonly batchStatsNodes: number;
  /**
   * Writes the variables' values into the IR constants (Tensor.setData: constants are copy-on-write
   * between clones), in the form the input stored them where that form holds any value: a tfjs
   * weight stored float16 is stored float16 again. Returns those, and the ones widened to float32.
   */
  writeBack(): WrittenForms;
  dispose(): void;
}

/** What writeBack did with weights the input stored narrower than float32. */
export interface WrittenForms {
  /** Stored float16 in the input (tfjs manifest): written float16 again, the trained values rounded to it. */
  float16: Value[];
  /** Stored as tfjs uint8/uint16 affine in the input: the trained values are off that grid, so written float32. */
  widened: Value[];
}

let counter = 0;

/** What the forward pass sees of a trained weight (TrainableOptions.views). */
export type WeightView = (w: T, current: (v: Value) => T | undefined) => T;

export interface TrainableOptions {
  /**
   * ONNX: what the forward pass sees of a trained weight instead of the variable itself
   * (QAT's fake quantization, fake-quant.ts); gradients flow through it to the variable. Its second
   * argument reads another trained weight's current value (static QAT's int32 bias, whose scale follows
   * its layer's weight scale: fake-quant-static.ts).
   */
  views?: ReadonlyMap<Value, WeightView>;
  /**
   * ONNX and tfjs graph models: the value that predict, reference and the loss read instead of the first graph
   * output (a Softmax's input: train/outputs.ts).
   */
  output?: Value | null;
  /**
   * ONNX: what the rest of the graph reads instead of an activation (static QAT's fake quantization of
   * the tensors a QuantizeLinear will take, fake-quant-static.ts; RunOptions.activations). Gradients flow through it.
   */
  activations?: ReadonlyMap<Value, (t: T) => T>;
  /**
   * ONNX: 'train' normalizes each training batch with its own statistics and keeps running ones
   * (train/batchnorm-train.ts), written back with the weights; 'frozen' (default) keeps the stored ones.
   */
  bnMode?: BnMode;
}

export async function openTrainable(tf: TF, model: Model, options: TrainableOptions = {}): Promise<Trainable> {
  if (model.format === 'onnx') return new ExecutorTrainable(tf, model, options.views, options.output ?? undefined, options.activations, options.bnMode === 'train' ? new RunningBatchNorm(model) : undefined);
  if (options.views?.size || options.activations?.size) throw new UnsupportedError('weight and activation views (QAT fake quantization) need an ONNX model');
  if (model.format === 'tfjs-layers') {
    const lm = await tf.loadLayersModel(tf.io.fromMemory(tfjsArtifacts(model)));
    return new LayersTrainable(tf, model, lm, options.bnMode === 'train');
  }
  if (options.bnMode === 'train') throw new UnsupportedError(`--bn-mode train: batch statistics are trained on ONNX and tfjs layers models; this tfjs graph model's FusedBatchNorm nodes keep theirs (use --bn-mode frozen)`);
  if (model.format === 'tfjs-graph') return new GraphTrainable(tf, model, await tf.loadGraphModel(tf.io.fromMemory(tfjsArtifacts(model))), options.output ?? undefined);
  throw new UnsupportedError(`mc finetune trains ONNX models and tfjs models; this is a ${model.format} model`);
}

/** Writes trained values over `params`, keeping tfjs float16 storage (rounding to float16, as the input's producer did). */
function writeTrained(params: readonly Value[], values: (i: number) => Float32Array): WrittenForms {
  const out: WrittenForms = { float16: [], widened: [] };
  params.forEach((v, i) => {
    const t = v.const!;
    const data = values(i);
    const stored = getTfjsQuantization(t);
    if (stored?.quantization.dtype === 'float16') {
      attachStorage(t, 'float32', stored.quantization, float32ToFloat16Bytes(data));
      out.float16.push(v);
      return;
    }
    if (stored) out.widened.push(v);
    t.setData('float32', [...t.shape], { kind: 'bytes', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  });
  return out;
}

/** Rewrites a failure of tfjs autodiff (an op with no gradient kernel) as a one-line error. */
function gradientFailure(e: unknown): never {
  if (e instanceof Error && /gradient function not found|Cannot compute gradient|not (yet )?(registered|implemented)/i.test(e.message)) {
    throw new UnsupportedError(`no gradient on this backend: ${e.message.split('\n')[0]}`);
  }
  throw e;
}

class ExecutorTrainable implements Trainable {
  readonly params: readonly Value[];
  readonly unreached: readonly Value[];
  readonly vars: readonly Variable[];
  private readonly ex: Executor;
  private readonly overrides: Map<Value, T>;
  private readonly outputs: readonly Value[] | undefined;

  constructor(private readonly tf: TF, model: Model, private readonly views?: ReadonlyMap<Value, WeightView>, output?: Value,
    private readonly activations?: ReadonlyMap<Value, (t: T) => T>, private readonly bn?: RunningBatchNorm) {
    this.ex = new Executor(model, tf);
    const all = trainableParams(model);
    if (!all.length) throw new UnsupportedError('the model has no float32 weights at a trainable slot (Conv, Gemm, MatMul, Add, BatchNormalization/LayerNormalization scale and bias)');
    this.outputs = output ? [output] : undefined;
    ({ reached: this.params, unreached: this.unreached } = reachedParams(model, all, this.outputs));
    checkTrainable(model, this.params, this.outputs);
    const id = counter++;
    this.vars = this.params.map((v, i) => tf.variable(this.ex.constant(v), true, `mc-train${id}/${i}/${v.name}`));
    this.overrides = new Map<Value, T>(this.params.map((v, i) => [v, this.vars[i]]));
  }

  get batchStatsNodes(): number {
    return this.bn?.nodes.length ?? 0;
  }

  /** Inference at the current weights: with batch-statistics training, the running statistics stand in for the stored ones. */
  predict(feeds: Readonly<Record<string, T>>): T {
    if (this.views?.size || this.activations?.size) return this.tf.tidy(() => this.viewed(feeds, this.vars, false));
    const running = this.bn?.overrides(this.tf);
    try {
      const [out, ...rest] = this.ex.run(feeds, { overrides: running ? new Map([...this.overrides, ...running]) : this.overrides, outputs: this.outputs });
      this.tf.dispose(rest);
      return out;
    } finally {
      if (running) this.tf.dispose([...running.values()]);
    }
  }

  /** The first output with each weight seen through its view (the caller tidies); `training`: batch statistics, when kept. */
  private viewed(feeds: Readonly<Record<string, T>>, ws: readonly T[], training: boolean): T {
    const at = new Map<Value, T>(this.params.map((v, i) => [v, ws[i]]));
    const overrides = new Map<Value, T>(this.params.map((v, i) => [v, this.views?.get(v)?.(ws[i], (u) => at.get(u)) ?? ws[i]]));
    if (!training && this.bn) for (const [v, t] of this.bn.overrides(this.tf)) overrides.set(v, t);
    return this.ex.run(feeds, { overrides, outputs: this.outputs, activations: this.activations, batchStats: training ? this.bn : undefined })[0];
  }

  saveState(): () => void {
    return this.bn?.save() ?? (() => {});
  }

  reference(feeds: Readonly<Record<string, T>>): T {
    const [out, ...rest] = this.ex.run(feeds, { outputs: this.outputs });
    this.tf.dispose(rest);
    return out;
  }

  lossAndGrads(feeds: Readonly<Record<string, T>>, loss: (out: T) => Scalar): { loss: number; grads: T[] } {
    try {
      if (!this.views?.size && !this.activations?.size) return this.ex.lossAndGrads(feeds, this.params, (outs) => loss(outs[0]), this.vars, this.outputs, this.bn);
      // Differentiates through the views (tfjs keeps what backprop needs across the executor's tidy).
      const { value, grads } = this.tf.valueAndGrads((...ws: T[]) => loss(this.viewed(feeds, ws, true)))([...this.vars]);
      const l = value.dataSync()[0];
      value.dispose();
      return { loss: l, grads };
    } catch (e) {
      return gradientFailure(e);
    }
  }

  writeBack(): WrittenForms {
    const written = writeTrained(this.params, (i) => Float32Array.from(this.vars[i].dataSync() as Float32Array));
    this.ex.invalidate([...this.params, ...(this.bn?.writeBack() ?? [])]);
    return written;
  }

  dispose(): void {
    this.tf.dispose([...this.vars]);
    this.ex.dispose();
  }
}

/**
 * A model trained on stock tfjs (layers or graph model): tf.Variables the model itself reads,
 * its forward pass, and the loss's gradients by variableGrads. Subclasses say which variables
 * and how to run the model.
 */
abstract class StockTfjsTrainable implements Trainable {
  abstract readonly params: readonly Value[];
  abstract readonly vars: readonly Variable[];
  abstract readonly unreached: readonly Value[];

  constructor(protected readonly tf: TF) {}

  /** `training`: the forward pass of a training step (lossAndGrads), not inference. */
  protected abstract forward(feeds: Readonly<Record<string, T>>, training: boolean): T;
  abstract dispose(): void;

  predict(feeds: Readonly<Record<string, T>>): T {
    return this.tf.tidy(() => this.forward(feeds, false));
  }

  get batchStatsNodes(): number {
    return 0;
  }

  reference(): null {
    return null;
  }

  saveState(): () => void {
    return () => {};
  }

  lossAndGrads(feeds: Readonly<Record<string, T>>, loss: (out: T) => Scalar): { loss: number; grads: T[] } {
    let r: { value: Scalar; grads: tfjs.NamedTensorMap };
    try {
      r = this.tf.variableGrads(() => loss(this.forward(feeds, true)), [...this.vars]);
    } catch (e) {
      return gradientFailure(e);
    }
    const l = r.value.dataSync()[0];
    r.value.dispose();
    // A layers-model weight that only feeds another output than the one the loss reads gets no gradient from variableGrads: zero.
    return { loss: l, grads: this.vars.map((v) => r.grads[v.name] ?? this.tf.zerosLike(v)) };
  }

  writeBack(): WrittenForms {
    return writeTrained(this.params, (i) => Float32Array.from(this.vars[i].dataSync() as Float32Array));
  }
}

/** The part of tfjs-converter's GraphModel that holds its weights (GraphExecutor.weightMap: node name → tensors). */
interface GraphWeights {
  executor: { weightMap: Record<string, T[]> };
}

/**
 * A tfjs graph model on stock tfjs: the weights at TF_PARAMETER_SLOTS (train/params.ts)
 * become tf.Variables in the GraphModel's own weight map, so GraphModel.execute runs on
 * them and tfjs's gradients (fused conv and matmul included) reach them. An op with no
 * gradient in tfjs fails the first step with tfjs's message (gradientFailure).
 */
class GraphTrainable extends StockTfjsTrainable {
  readonly params: readonly Value[];
  readonly unreached: readonly Value[];
  readonly vars: readonly Variable[];
  private readonly outputName: string | undefined;

  /** `output`: the value to run to instead of the first graph output (a Softmax's input: train/outputs.ts). */
  constructor(tf: TF, model: Model, private readonly gm: tfjs.GraphModel, output?: Value) {
    super(tf);
    this.outputName = output?.name;
    const map = (gm as unknown as GraphWeights).executor.weightMap;
    const all = trainableParams(model).filter((v) => map[v.name]?.length === 1);
    if (!all.length) throw new UnsupportedError('the graph model has no float32 weights at a trainable slot (Conv2D/MatMul filters, biases, FusedBatchNorm scale and offset)');
    ({ reached: this.params, unreached: this.unreached } = reachedParams(model, all, output ? [output] : undefined));
    const id = counter++;
    this.vars = this.params.map((v, i) => tf.variable(map[v.name][0], true, `mc-train${id}/${i}/${v.name}`));
    const next = { ...map };
    this.params.forEach((v, i) => { next[v.name] = [this.vars[i]]; });
    (gm as unknown as GraphWeights).executor.weightMap = next;
  }

  protected forward(feeds: Readonly<Record<string, T>>): T {
    return runGraph(this.tf, this.gm, feeds, this.outputName);
  }

  dispose(): void {
    this.tf.dispose([...this.vars]);
    this.gm.dispose();
  }
}

/** A graph model's first output, or the node output named `output` ("node" or "node:1", as IR values are named). */
function runGraph(tf: TF, gm: tfjs.GraphModel, feeds: Readonly<Record<string, T>>, output?: string): T {
  const out = output === undefined ? gm.execute({ ...feeds }) : gm.execute({ ...feeds }, output);
  if (!Array.isArray(out)) return out;
  tf.dispose(out.slice(1));
  return out[0];
}

/**
 * A tfjs layers-model on stock tfjs. With `batchStats` (--bn-mode train) a training step runs the
 * layers with training: true, as Keras fit does: BatchNormalization normalizes with the batch's
 * statistics and stock tfjs updates its moving mean and variance (moving = moving·momentum +
 * batch·(1 − momentum)), which are written back with the weights; Dropout, if any, is active.
 */
class LayersTrainable extends StockTfjsTrainable {
  readonly params: readonly Value[];
  readonly vars: readonly Variable[];
  /** Keras layers: a weight feeding another output gets a zero gradient (StockTfjsTrainable.lossAndGrads); none is listed. */
  readonly unreached: readonly Value[] = [];
  /** --bn-mode train: BatchNormalization moving statistics (IR value, layer variable). */
  private readonly stats: { v: Value; w: tfjs.LayerVariable }[] = [];
  /** --bn-mode train: BatchNormalization layers whose moving statistics are trained. */
  private readonly bnLayers: number = 0;

  constructor(tf: TF, model: Model, private readonly lm: tfjs.LayersModel, private readonly batchStats = false) {
    super(tf);
    const byName = new Map<string, Value>();
    for (const v of model.weights()) if (v.const?.dtype === 'float32') byName.set(v.name, v);
    const params: Value[] = [];
    const vars: Variable[] = [];
    // originalName is the manifest name (= the IR Value name); trainableWeights leaves out BN moving statistics.
    for (const w of lm.trainableWeights) {
      const v = byName.get(w.originalName);
      const t = w.read();
      if (!v || !(t instanceof tf.Variable)) continue;
      params.push(v);
      vars.push(t);
    }
    if (!params.length) throw new UnsupportedError('the layers-model has no float32 trainable weights');
    this.params = params;
    this.vars = vars;
    if (batchStats) {
      for (const layer of lm.layers) {
        if (layer.getClassName() !== 'BatchNormalization') continue;
        const before = this.stats.length;
        for (const w of layer.nonTrainableWeights) {
          const v = byName.get(w.originalName);
          if (v) this.stats.push({ v, w });
        }
        if (this.stats.length > before) this.bnLayers++;
      }
    }
  }

  override get batchStatsNodes(): number {
    return this.bnLayers;
  }

  override saveState(): () => void {
    const saved = this.stats.map((s) => this.tf.keep(this.tf.clone(s.w.read())));
    return () => {
      this.stats.forEach((s, i) => s.w.write(saved[i]));
      this.tf.dispose(saved);
    };
  }

  override writeBack(): WrittenForms {
    const a = super.writeBack();
    const b = writeTrained(this.stats.map((s) => s.v), (i) => Float32Array.from(this.stats[i].w.read().dataSync() as Float32Array));
    return { float16: [...a.float16, ...b.float16], widened: [...a.widened, ...b.widened] };
  }

  protected forward(feeds: Readonly<Record<string, T>>, training: boolean): T {
    const xs = this.lm.inputs.map((i) => i.sourceLayer.name).map((n) => {
      const t = feeds[n];
      if (!t) throw new Error(`missing feed for model input '${n}'`);
      return t;
    });
    const out = this.lm.apply(xs.length === 1 ? xs[0] : xs, { training: training && this.batchStats }) as T | T[];
    if (!Array.isArray(out)) return out;
    this.tf.dispose(out.slice(1));
    return out[0];
  }

  dispose(): void {
    this.lm.dispose();
  }
}

/** A frozen model that gives outputs only (the teacher). */
export interface Predictor {
  predict(feeds: Readonly<Record<string, T>>): T;
  dispose(): void;
}

/** `output`: ONNX or tfjs graph model, the value to read instead of the first graph output (train/outputs.ts). */
export async function openPredictor(tf: TF, model: Model, output?: Value | null): Promise<Predictor> {
  if (model.format === 'onnx') {
    const ex = new Executor(model, tf);
    const outputs = output ? [output] : undefined;
    return {
      predict: (feeds) => {
        const [out, ...rest] = ex.run(feeds, { outputs });
        tf.dispose(rest);
        return out;
      },
      dispose: () => ex.dispose(),
    };
  }
  const io = tf.io.fromMemory(tfjsArtifacts(model));
  if (model.format === 'tfjs-layers') {
    const lm = await tf.loadLayersModel(io);
    return {
      predict: (feeds) => tf.tidy(() => {
        const out = lm.predict(lm.inputs.map((i) => feeds[i.sourceLayer.name])) as T | T[];
        return Array.isArray(out) ? out[0] : out;
      }),
      dispose: () => lm.dispose(),
    };
  }
  const gm = await tf.loadGraphModel(io);
  return { predict: (feeds) => runGraph(tf, gm, feeds, output?.name), dispose: () => gm.dispose() };
}
