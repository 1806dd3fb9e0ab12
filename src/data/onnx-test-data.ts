import * as fs from 'fs';
import * as nodePath from 'path';
import { InputError } from '../errors';
import { decodeTensorProto } from '../formats/onnx';
import type { Tensor } from '../ir/tensor';
import { samplesToRead, widenHalf } from './batching';
import { formatShape } from './npy';
import type { Batch, BatchTensor, DataDType, Dataset, InputDescription, InputSpec } from './types';

/** Decodes one TensorProto file; injectable so tests can substitute it. */
export type TensorProtoDecoder = (bytes: Uint8Array, file: string) => Tensor;

const DATA_DTYPES: ReadonlySet<string> = new Set<DataDType>([
  'float32', 'float16', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool',
]);

interface SetInfo {
  readonly dir: string;
  /** input_k.pb files, in k order. */
  readonly files: string[];
  /** Leading dim shared by the set's tensors. */
  readonly count: number;
}

interface Slot {
  readonly name: string;
  readonly dtype: DataDType;
  readonly shape: number[];
  readonly widen: boolean;
}

/**
 * ONNX backend test-data layout: <folder>/test_data_set_<k>/input_<i>.pb.
 * Each set is one batch whose size is its tensors' leading dim (they already
 * carry their batch axis), so `batchSize` is ignored; `limit` cuts the last
 * set short along that axis. Tensors map to model inputs by their TensorProto
 * name when it names a model input, otherwise by position (input_i → the
 * model's i-th input). Every set is decoded once when opened to learn the
 * shapes, and again when read; only one set is held at a time.
 */
export class OnnxTestDataDataset implements Dataset {
  readonly kind = 'onnx-test-data';
  readonly count: number;
  private readonly sets: SetInfo[];
  private readonly slots: Slot[];

  constructor(readonly path: string, private readonly inputs?: readonly InputSpec[], private readonly decode: TensorProtoDecoder = decodeTensorProto) {
    const dirs = fs.readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isDirectory() && /^test_data_set_\d+$/.test(e.name))
      .map((e) => e.name)
      .sort(byNumber);
    this.sets = [];
    let slots: Slot[] | undefined;
    for (const d of dirs) {
      const dir = nodePath.join(path, d);
      const files = fs.readdirSync(dir).filter((f) => /^input_\d+\.pb$/.test(f)).sort(byNumber).map((f) => nodePath.join(dir, f));
      if (files.length === 0) continue;
      const tensors = this.load(files, false);
      const setSlots = tensors.map((t) => t.slot);
      if (!slots) slots = setSlots;
      else checkSameSlots(slots, setSlots, dir);
      this.sets.push({ dir, files, count: tensors[0].data.shape[0] });
    }
    if (!slots) throw new InputError('no samples (no test_data_set_*/input_*.pb files)', path);
    this.slots = slots;
    this.count = this.sets.reduce((a, s) => a + s.count, 0);
    if (this.count === 0) throw new InputError('no samples (every set has a leading dim of 0)', path);
  }

  describe(): InputDescription[] {
    return this.slots.map((s) => ({
      name: s.name,
      dtype: s.widen ? 'float32' : s.dtype,
      ...(s.widen ? { storedDType: s.dtype } : {}),
      shape: s.shape,
      file: this.sets[0].dir,
    }));
  }

  *batches(batchSize: number, limit?: number): Iterable<Batch> {
    const total = samplesToRead(this.count, batchSize, limit);
    let start = 0;
    for (const set of this.sets) {
      if (start >= total) break;
      const count = Math.min(set.count, total - start);
      const inputs = new Map<string, BatchTensor>();
      for (const { slot, data } of this.load(set.files, true)) {
        const perSample = data.data.length / set.count;
        const cut = count === set.count ? data.data : data.data.subarray(0, count * perSample);
        inputs.set(slot.name, { ...data, shape: [count, ...data.shape.slice(1)], data: cut });
      }
      yield { inputs, count, start };
      start += count;
    }
  }

  /** Decodes a set's files and maps each tensor to a model input; `convert` applies the float16 widening. */
  private load(files: string[], convert: boolean): { slot: Slot; data: BatchTensor }[] {
    const byName = new Set(this.inputs?.map((i) => i.name));
    const out = files.map((file, i) => {
      let t: Tensor;
      try {
        t = this.decode(fs.readFileSync(file), file);
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(`not a TensorProto (${(e as Error).message})`, file);
      }
      if (!DATA_DTYPES.has(t.dtype)) throw new InputError(`tensor dtype ${t.dtype} cannot feed a model input here`, file);
      if (t.shape.length === 0) throw new InputError(`tensor ${formatShape(t.dtype, [])} has no leading batch axis`, file);
      const spec = t.name && byName.has(t.name) ? this.inputs!.find((s) => s.name === t.name) : this.inputs?.[i];
      if (this.inputs && !spec) throw new InputError(`input_${i}.pb has no matching model input (the model has ${this.inputs.length})`, file);
      const dtype = t.dtype as DataDType;
      const widen = spec?.dtype === 'float32' && dtype === 'float16';
      const raw = t.typed();
      const data: BatchTensor = widen && convert
        ? { dtype: 'float32', shape: t.shape, data: widenHalf(raw as Uint16Array) }
        : { dtype, shape: t.shape, data: raw };
      return { slot: { name: spec?.name ?? (t.name || `input_${i}`), dtype, shape: t.shape.slice(1), widen }, data };
    });
    const n = out[0].data.shape[0];
    const odd = out.find((o) => o.data.shape[0] !== n);
    if (odd) throw new InputError(`tensors disagree on the batch (leading) dim: ${out[0].slot.name} has ${n}, ${odd.slot.name} has ${odd.data.shape[0]}`, nodePath.dirname(files[0]));
    return out;
  }
}

function checkSameSlots(a: Slot[], b: Slot[], dir: string): void {
  const sig = (s: Slot[]): string => s.map((x) => `${x.name}:${formatShape(x.dtype, x.shape)}`).join(' ');
  if (sig(a) !== sig(b)) throw new InputError(`sets disagree on inputs: first set has ${sig(a)}, this one ${sig(b)}`, dir);
}

function byNumber(a: string, b: string): number {
  return Number(/(\d+)\D*$/.exec(a)![1]) - Number(/(\d+)\D*$/.exec(b)![1]);
}
