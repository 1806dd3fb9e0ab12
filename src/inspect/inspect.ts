import * as fs from 'fs';
import * as path from 'path';
import { Model, Tensor, Value } from '../ir';
import { constantTensors } from '../graph/constants';
import { getTfjsQuantization } from '../formats/tfjs/quantization';
import type { TfjsModelExtra } from '../formats/tfjs/types';
import { ConstantData, countParameters } from './parameters';
import { findStoredQuantization } from './quantization';
import { recordedRecipe } from './recipe';
import {
  DtypeBytes, INSPECT_SCHEMA_VERSION, InspectReport, OpTypeCount, TensorSignature, TensorSummary,
} from './report';

const LARGEST = 10;

export interface InspectOptions {
  /** Report file paths relative to this folder (the model's folder) instead of as given. */
  baseDir?: string;
}

/**
 * Describes a loaded model as plain data. `files` are the files the model was
 * read from (modelFiles(path)); only their sizes are read. Reads shapes and
 * byte lengths only: lazy (external) weights stay unloaded, nothing is decoded.
 */
export function inspectModel(model: Model, files: readonly string[] = [], opts: InspectOptions = {}): InspectReport {
  const constants = constantsOf(model);
  const shown = (p: string): string => (opts.baseDir !== undefined ? path.relative(opts.baseDir, p) || p : p);
  const fileRows = files.map((p) => ({ path: shown(p), bytes: fs.statSync(p).size }));
  const tensors = constants.map((c) => summarize(c.value.name, c.tensor));
  return {
    schemaVersion: INSPECT_SCHEMA_VERSION,
    format: model.format,
    producer: producerOf(model),
    irVersion: model.irVersion ?? null,
    opsets: model.opsetImports.map((o) => ({ domain: o.domain === 'ai.onnx' ? '' : o.domain, version: o.version })),
    nodeCount: [...model.graph.allNodes()].length,
    opTypes: opHistogram(model),
    parameters: countParameters(constants),
    constants: {
      tensors: tensors.length,
      elements: sum(constants.map((c) => c.tensor.size)),
      storedBytes: sum(tensors.map((t) => t.storedBytes)),
      decodedBytes: sum(tensors.map((t) => t.decodedBytes)),
    },
    bytesByDtype: byDtype(constants, tensors),
    inputs: graphInputs(model).map(signature),
    outputs: model.graph.outputs.map(signature),
    largestTensors: [...tensors].sort((a, b) => b.storedBytes - a.storedBytes || cmp(a.name, b.name)).slice(0, LARGEST),
    quantization: findStoredQuantization(model, constants),
    files: fileRows,
    totalFileBytes: sum(fileRows.map((f) => f.bytes)),
    recipe: recordedRecipe(model),
  };
}

/**
 * Every constant tensor of the model, once each: initializers and `Constant`
 * node values of all graph levels, plus tfjs manifest weights that no node
 * reads (kept by the tfjs loader).
 */
export function constantsOf(model: Model): ConstantData[] {
  const seen = new Map<Value, ConstantData>();
  for (const c of constantTensors(model)) if (!seen.has(c.value)) seen.set(c.value, { value: c.value, tensor: c.tensor });
  const extra = model.extra as Partial<TfjsModelExtra> | undefined;
  if (extra?.kind === 'tfjs' && Array.isArray(extra.looseWeights)) {
    for (const v of extra.looseWeights) if (v.const && !seen.has(v)) seen.set(v, { value: v, tensor: v.const });
  }
  return [...seen.values()];
}

/** ONNX producer_name/version; for tfjs, model.json's generatedBy (e.g. 'keras v2.15.0' or 'TensorFlow.js tfjs-layers v4.22.0'). */
function producerOf(model: Model): InspectReport['producer'] {
  if (model.producerName) return { name: model.producerName, version: model.producerVersion || null };
  const extra = model.extra as Partial<TfjsModelExtra> | undefined;
  const generatedBy = extra?.kind === 'tfjs' ? extra.json?.generatedBy : undefined;
  return { name: typeof generatedBy === 'string' && generatedBy ? generatedBy : null, version: null };
}

function summarize(name: string, t: Tensor): TensorSummary {
  const q = getTfjsQuantization(t);
  return {
    name,
    dtype: t.dtype,
    storedDtype: q ? q.quantization.dtype : t.dtype,
    shape: [...t.shape],
    storedBytes: q ? q.storedBytes.byteLength : t.byteLength,
    decodedBytes: t.byteLength,
  };
}

function opHistogram(model: Model): OpTypeCount[] {
  const counts = new Map<string, OpTypeCount>();
  for (const n of model.graph.allNodes()) {
    const domain = n.domain === 'ai.onnx' ? '' : n.domain;
    const key = `${domain}\0${n.opType}`;
    const row = counts.get(key) ?? { domain, opType: n.opType, count: 0 };
    row.count++;
    counts.set(key, row);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || cmp(a.opType, b.opType) || cmp(a.domain, b.domain));
}

function byDtype(constants: readonly ConstantData[], tensors: readonly TensorSummary[]): DtypeBytes[] {
  const rows = new Map<string, DtypeBytes>();
  tensors.forEach((t, i) => {
    const key = `${t.storedDtype}\0${t.dtype}`;
    const row = rows.get(key) ?? { storedDtype: t.storedDtype, dtype: t.dtype, tensors: 0, elements: 0, storedBytes: 0, decodedBytes: 0 };
    row.tensors++;
    row.elements += constants[i].tensor.size;
    row.storedBytes += t.storedBytes;
    row.decodedBytes += t.decodedBytes;
    rows.set(key, row);
  });
  return [...rows.values()].sort((a, b) => b.storedBytes - a.storedBytes || cmp(a.storedDtype, b.storedDtype) || cmp(a.dtype, b.dtype));
}

/** Graph inputs that are real inputs (old ONNX IR versions also list initializers as inputs). */
function graphInputs(model: Model): Value[] {
  const constNames = new Set(model.graph.initializers.map((v) => v.name));
  return model.graph.inputs.filter((v) => !v.const && !constNames.has(v.name));
}

function signature(v: Value): TensorSignature {
  return { name: v.name, dtype: v.dtype ?? null, shape: v.shape ? [...v.shape] : null };
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
