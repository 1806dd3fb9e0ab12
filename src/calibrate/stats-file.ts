/**
 * The calibration statistics file (`--calib-cache stats.json`): statistics of
 * one pass over the data, saved so that a later run on the same model and data
 * (a CI job where only the recipe changed) skips calibration.
 *
 * The file is JSON. Its key says what the statistics are of: the sha256 of the
 * graph calibration ran (the ONNX bytes after static quantization's exact
 * rewrites), the sha256 and size of the data (every file of a folder, in
 * path order), and the settings that shape them (samples, batch size, bins,
 * image preprocessing). A run whose key differs recomputes and rewrites the
 * file, saying which part differed. Numbers are written with JSON's shortest
 * round-trip form, which restores every float64 exactly; ±Infinity, NaN and
 * −0, which JSON lacks, are written as {"$": "Infinity"} and so on.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Dataset, PreprocessOptions } from '../data';
import { InputError } from '../errors';
import { encodeOnnx } from '../formats/onnx';
import type { Model } from '../ir';
import { writeFileAtomic } from '../util/atomic';
import { CalibrationStatistics, STATISTIC_KINDS, StatisticKind, tensorFromState, TensorStatisticsState, tensorState } from './statistics';

export const STATISTICS_FORMAT = 'mc-calibration-statistics';
export const STATISTICS_VERSION = 1;

/** What statistics are of; two runs with equal keys compute identical statistics. */
export interface StatisticsKey {
  /** sha256 of the calibrated graph's ONNX bytes. */
  model: string;
  data: { sha256: string; bytes: number };
  /** --calib-samples (null: every sample). */
  samples: number | null;
  batchSize: number;
  bins: number;
  preprocess: Partial<PreprocessOptions> | null;
}

export function statisticsKey(model: Model, data: Dataset | string, o: { samples?: number; batchSize: number; bins: number; preprocess?: Partial<PreprocessOptions> }): StatisticsKey {
  return {
    model: createHash('sha256').update(encodeOnnx(model)).digest('hex'),
    data: dataIdentity(typeof data === 'string' ? data : data.path),
    samples: o.samples ?? null, batchSize: o.batchSize, bins: o.bins, preprocess: o.preprocess ?? null,
  };
}

/** sha256 over the file's bytes, or over every file of a folder (relative path, then bytes, in path order). */
export function dataIdentity(p: string): { sha256: string; bytes: number } {
  const h = createHash('sha256');
  let bytes = 0;
  const add = (file: string, rel: string | undefined): void => {
    const buf = fs.readFileSync(file);
    if (rel !== undefined) h.update(`${rel}\0${buf.length}\0`);
    h.update(buf);
    bytes += buf.length;
  };
  const walk = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.isFile()) add(path.join(dir, e.name), r);
    }
  };
  try {
    if (fs.statSync(p).isDirectory()) walk(p, '');
    else add(p, undefined);
  } catch (e) {
    throw new InputError(`cannot read the calibration data to identify it: ${(e as Error).message}`, p);
  }
  return { sha256: h.digest('hex'), bytes };
}

/** Why `stored` does not serve a run keyed `wanted` that needs `tensors` and `kinds`; undefined when it does. */
export function mismatch(stored: SavedStatistics, wanted: StatisticsKey, tensors: readonly string[], kinds: readonly StatisticKind[]): string | undefined {
  const k = stored.key;
  if (k.model !== wanted.model) return `it is for another model graph (sha256 ${k.model.slice(0, 12)}…, this one ${wanted.model.slice(0, 12)}…)`;
  if (k.data.sha256 !== wanted.data.sha256 || k.data.bytes !== wanted.data.bytes) return `it is for other calibration data (sha256 ${k.data.sha256.slice(0, 12)}…, ${k.data.bytes} bytes; this data ${wanted.data.sha256.slice(0, 12)}…, ${wanted.data.bytes} bytes)`;
  for (const f of ['samples', 'batchSize', 'bins'] as const) if (k[f] !== wanted[f]) return `it was computed with ${f} ${String(k[f] ?? 'all')}, this run uses ${String(wanted[f] ?? 'all')}`;
  if (JSON.stringify(k.preprocess) !== JSON.stringify(wanted.preprocess)) return 'it was computed with other image preprocessing';
  const missingKind = kinds.find((x) => !stored.stats.kinds.includes(x));
  if (missingKind) return `it lacks the '${missingKind}' statistics`;
  const missing = tensors.find((t) => !stored.stats.tensors.has(t) && !stored.unobserved.includes(t));
  if (missing !== undefined) return `it has no statistics of tensor '${missing}'`;
  return undefined;
}

export interface SavedStatistics {
  key: StatisticsKey;
  stats: CalibrationStatistics;
  /** Tensors asked for but left unobserved (not float32): a warning says so; they stay absent. */
  unobserved: string[];
}

interface FileShape {
  format: string;
  version: number;
  key: StatisticsKey;
  kinds: StatisticKind[];
  bins: number;
  samples: number;
  batches: number;
  batchSize: number;
  seconds: number;
  warnings: string[];
  unobserved: string[];
  tensors: [string, TensorStatisticsState][];
}

/** The file's text for `stats` (deterministic: same statistics, same bytes). */
export function statisticsJson(s: SavedStatistics): string {
  const st = s.stats;
  const body: FileShape = {
    format: STATISTICS_FORMAT, version: STATISTICS_VERSION, key: s.key, kinds: st.kinds, bins: st.bins, samples: st.samples, batches: st.batches,
    batchSize: st.batchSize, seconds: st.seconds, warnings: st.warnings, unobserved: s.unobserved, tensors: [...st.tensors].map(([n, t]) => [n, tensorState(t)]),
  };
  return `${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? { $: Object.is(v, -0) ? '-0' : String(v) } : v))}\n`;
}

export function writeStatisticsFile(file: string, s: SavedStatistics): void {
  writeFileAtomic(file, statisticsJson(s));
}

/** The statistics in `file`; undefined when there is no file. A file that is not one (or of another version) is an InputError. */
export function readStatisticsFile(file: string): SavedStatistics | undefined {
  if (!fs.existsSync(file)) return undefined;
  let body: FileShape;
  try {
    body = JSON.parse(fs.readFileSync(file, 'utf8'), (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        const tag = (v as { $?: unknown }).$;
        if (keys.length === 1 && typeof tag === 'string') return Number(tag);
      }
      return v;
    }) as FileShape;
  } catch (e) {
    throw new InputError(`not a calibration statistics file: ${(e as Error).message}`, file);
  }
  if (body?.format !== STATISTICS_FORMAT || body.version !== STATISTICS_VERSION || !Array.isArray(body.tensors)) {
    throw new InputError(`not a calibration statistics file of version ${STATISTICS_VERSION} (format '${String(body?.format)}', version ${String(body?.version)})`, file);
  }
  const kinds = body.kinds.filter((k) => STATISTIC_KINDS.includes(k));
  const stats: CalibrationStatistics = {
    kinds, bins: body.bins, tensors: new Map(body.tensors.map(([n, t]) => [n, tensorFromState(t, body.bins)])), samples: body.samples,
    batches: body.batches, batchSize: body.batchSize, seconds: body.seconds, warnings: body.warnings, observedIn: 'main',
  };
  return { key: body.key, stats, unobserved: body.unobserved ?? [] };
}
