/**
 * One trial's measurement, the same on the main thread and in a worker:
 * the assignment's Plan applied to a clone of the float model, the clone
 * evaluated against the float model, the constraint and sizes read back.
 */
import type { Evaluator } from '../eval/evaluator';
import type { Budgets, EvalReport } from '../eval/types';
import type { Model } from '../ir';
import type { StatisticsMemory } from '../pipeline/static';
import { applyPlan } from '../plan';
import { constraintOf, slackOf, valueOf } from './constraint';
import { planFor } from './space';
import type { Assignment, Dimension, Scope, SizeMeasure, TrialRecord } from './types';

export interface MeasureContext {
  model: Model;
  label: string;
  layers: string[];
  dims: Dimension[];
  constraint: Budgets;
  evaluators: Record<Scope, Evaluator>;
  /** Calibration statistics shared by this thread's static trials (one calibration pass per graph). */
  statistics?: StatisticsMemory;
}

/** A candidate's three sizes as a trial records them: stored weight bytes (every dtype), file bytes, gzip bytes. */
export function sizesOf(report: EvalReport): Pick<TrialRecord, 'weightBytes' | 'fileBytes' | 'gzipBytes'> {
  const size = report.candidate.size;
  return { weightBytes: Object.values(size.bytesByDtype).reduce((s, x) => s + x, 0), fileBytes: size.bytes, gzipBytes: size.gzipBytes };
}

/** The bytes of the size measure the search minimises (`--size`). */
export function bytesOf(measure: SizeMeasure, t: Pick<TrialRecord, 'weightBytes' | 'fileBytes' | 'gzipBytes'>): number {
  return measure === 'weights' ? t.weightBytes : measure === 'file' ? t.fileBytes : t.gzipBytes;
}

/** The measured fields of a trial record. */
export type Measured = Pick<TrialRecord, 'value' | 'slack' | 'passed' | 'weightBytes' | 'fileBytes' | 'gzipBytes' | 'sqnrDb' | 'metric' | 'disagree' | 'ms' | 'error'>;

export async function measureTrial(c: MeasureContext, a: Assignment, scope: Scope, name: string): Promise<Measured> {
  const constraint = constraintOf(c.constraint);
  const t0 = Date.now();
  let report: EvalReport;
  try {
    const m = c.model.clone();
    const plan = planFor(a, c.layers, c.dims);
    if (plan) await applyPlan(m, plan, { label: c.label, statistics: c.statistics });
    report = await c.evaluators[scope].evaluate(m, { name });
  } catch (e) {
    return {
      value: null, slack: -Number.MAX_VALUE, passed: false, weightBytes: 0, fileBytes: 0, gzipBytes: 0, sqnrDb: null, metric: null,
      ms: Date.now() - t0, error: (e as Error).message.split('\n')[0],
    };
  }
  const value = valueOf(constraint, report);
  const acc = report.candidate.accuracy;
  const fid = report.candidate.fidelity;
  return {
    value,
    slack: slackOf(constraint, value),
    passed: report.budgets.every((b) => b.passed),
    ...sizesOf(report),
    sqnrDb: report.candidate.fidelity?.sqnrDb ?? null,
    metric: acc ? (acc.top1 ?? acc.perplexity ?? acc.mse ?? acc.top5) : null,
    disagree: fid?.top1Agreement === null || fid?.top1Agreement === undefined ? null : { samples: Math.round((1 - fid.top1Agreement) * fid.samples), of: fid.samples },
    ms: Date.now() - t0,
  };
}
