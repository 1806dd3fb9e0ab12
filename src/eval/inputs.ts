import { InputError, UsageError } from '../errors';
import type { DType } from '../ir';
import { openDataset, openLabels, validateAgainst } from '../data';
import { openNpy } from '../data/open-arrays';
import type { Dataset, InputSpec } from '../data/types';
import type { HostTensor, ModelRunner, TensorInfo } from '../runtime';

/** The model's inputs as the data layer wants them (a runtime that does not say the dtype gets float32). */
export function inputSpecs(runner: ModelRunner): InputSpec[] {
  return runner.inputs.map((i: TensorInfo) => ({ name: i.name, dtype: i.dtype ?? 'float32', shape: i.shape ?? [] }));
}

function describeInputs(specs: readonly InputSpec[]): string {
  return specs.map((s) => `${s.name}: ${s.dtype}[${s.shape.map((d) => d ?? '?').join(',')}]`).join(', ');
}

/**
 * Baseline and candidate must take the same inputs (names, dtypes, ranks and
 * fixed dims), or one batch cannot feed both. Symbolic dims match anything.
 */
export function checkSameInputs(candidate: readonly InputSpec[], baseline: readonly InputSpec[], baselinePath: string): void {
  const same = candidate.length === baseline.length && candidate.every((c) => {
    const b = baseline.find((x) => x.name === c.name);
    return b !== undefined && b.dtype === c.dtype && b.shape.length === c.shape.length
      && b.shape.every((d, i) => typeof d !== 'number' || typeof c.shape[i] !== 'number' || d === c.shape[i]);
  });
  if (!same) {
    throw new InputError(`the baseline takes different inputs (${describeInputs(baseline)}) than the candidate (${describeInputs(candidate)})`, baselinePath);
  }
}

/**
 * Pairs each candidate output with a baseline output: by name when the
 * baseline has every candidate output name, else by position (a rewrite may
 * rename outputs). Returns candidate name → baseline name.
 */
export function alignOutputs(candidate: readonly TensorInfo[], baseline: readonly TensorInfo[], baselinePath: string): Map<string, string> {
  const baseNames = new Set(baseline.map((o) => o.name));
  if (candidate.every((o) => baseNames.has(o.name))) return new Map(candidate.map((o) => [o.name, o.name]));
  if (candidate.length === baseline.length) return new Map(candidate.map((o, i) => [o.name, baseline[i].name]));
  throw new InputError(`the baseline has ${baseline.length} outputs (${[...baseNames].join(', ')}), the candidate ${candidate.length} (${candidate.map((o) => o.name).join(', ')})`, baselinePath);
}

export interface EvalData {
  dataset: Dataset;
  /** Batch size to read at: the model's fixed batch dim if it has one, else the asked size. */
  batchSize: number;
  /** Samples the evaluation reads. */
  samples: number;
}

/** Opens --data for the model's inputs and checks it fits (a clear InputError, exit 2, if not). */
export function openEvalData(file: string, specs: readonly InputSpec[], batchSize: number, limit: number | undefined): EvalData {
  const dataset = openDataset(file, { inputs: specs });
  // A model that fixes its batch dim (e.g. [1,3,224,224]) can only be fed batches of that size.
  const v = validateAgainst(dataset, specs);
  const samples = Math.min(dataset.count, limit ?? Infinity);
  return { dataset, batchSize: v.fixedBatch ?? batchSize, samples };
}

/** Labels for samples [start, start+count), as a host tensor. */
export interface LabelSource {
  readonly count: number;
  readonly dtype: DType;
  /** Per-sample shape. */
  readonly shape: number[];
  batches(batchSize: number, limit: number): Iterable<HostTensor>;
}

/**
 * Integer class / token ids come through openLabels. Float targets (regression,
 * scored with mse) are read as a plain single-array dataset.
 */
export function openEvalLabels(file: string): LabelSource {
  if (/\.npy$/i.test(file)) {
    const arrays = openNpy(file);
    const d = arrays.describe()[0];
    if (d.dtype.startsWith('float')) {
      return {
        count: arrays.count,
        dtype: d.dtype,
        shape: d.shape,
        *batches(batchSize: number, limit: number): Iterable<HostTensor> {
          for (const b of arrays.batches(batchSize, limit)) {
            const t = b.inputs.values().next().value!;
            yield { dtype: t.dtype, shape: t.shape, data: t.data };
          }
        },
      };
    }
  }
  const labels = openLabels(file);
  return {
    count: labels.count,
    dtype: 'int32',
    shape: labels.shape,
    *batches(batchSize: number, limit: number): Iterable<HostTensor> {
      for (const b of labels.batches(batchSize, limit)) yield { dtype: 'int32', shape: b.shape, data: b.ids };
    },
  };
}

/** One label row per data sample, or a clear InputError (exit 2). */
export function checkLabelCount(labels: LabelSource, labelsFile: string, dataset: Dataset): void {
  if (labels.count !== dataset.count) {
    throw new InputError(`${labels.count} labels for ${dataset.count} samples in ${dataset.path}`, labelsFile);
  }
}

/**
 * A deterministic input batch for latency when no --data is given: the first
 * dim takes `batchSize` when symbolic, other symbolic dims take 1. Floats are a
 * fixed pseudo-random sequence in [-1, 1) (a constant input could hit
 * data-dependent fast paths); integers are zeros (valid ids and indices).
 */
export function synthesizeFeeds(specs: readonly InputSpec[], batchSize: number): Map<string, HostTensor> {
  const feeds = new Map<string, HostTensor>();
  let seed = 0x2545f491;
  for (const s of specs) {
    const shape = s.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batchSize : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    let t: HostTensor;
    switch (s.dtype) {
      case 'float32': {
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          // xorshift32: cheap, deterministic across platforms.
          seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
          data[i] = ((seed >>> 0) / 0x100000000) * 2 - 1;
        }
        t = { dtype: 'float32', shape, data };
        break;
      }
      case 'int64': t = { dtype: 'int64', shape, data: new BigInt64Array(n) }; break;
      case 'int32': t = { dtype: 'int32', shape, data: new Int32Array(n) }; break;
      case 'bool': case 'uint8': t = { dtype: s.dtype, shape, data: new Uint8Array(n) }; break;
      case 'int8': t = { dtype: 'int8', shape, data: new Int8Array(n) }; break;
      default: throw new UsageError(`cannot synthesize input '${s.name}' of type ${s.dtype}; pass --data`);
    }
    feeds.set(s.name, t);
  }
  return feeds;
}
