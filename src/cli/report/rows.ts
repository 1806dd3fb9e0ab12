/**
 * The rows every eval reporter shows, as plain strings: human and Markdown
 * reporters only differ in how they draw them (and colour them).
 */
import type { BudgetResult, EvalReport, ModelReport } from '../../eval';
import { cpuLine } from '../../runtime/cpu';
import { formatBytes, formatCount } from '../format';

export interface EvalRow {
  label: string;
  baseline: string;
  candidate: string;
  delta: string;
  /** Sign of the change for colouring: 'better', 'worse' or 'same'/undefined. */
  trend?: 'better' | 'worse' | 'same';
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const ms = (x: number): string => (x >= 100 ? `${x.toFixed(1)} ms` : `${x.toFixed(3)} ms`);
const db = (x: number | null): string => (x === null ? '∞ dB' : `${x.toFixed(2)} dB`);
const times = (r: number): string => `×${r.toFixed(3)}`;
const signed = (x: number, digits: number, unit = ''): string => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(digits)}${unit}`;

function trendOf(delta: number | null, lowerIsBetter: boolean): EvalRow['trend'] {
  if (delta === null || delta === 0) return 'same';
  return (delta < 0) === lowerIsBetter ? 'better' : 'worse';
}

function cell<T>(m: ModelReport | null, get: (m: ModelReport) => T | null | undefined, show: (v: T) => string): string {
  if (!m) return '';
  const v = get(m);
  return v === null || v === undefined ? '–' : show(v);
}

/** Rows for the metrics the report has, in a fixed order. */
export function evalRows(r: EvalReport): EvalRow[] {
  const b = r.baseline;
  const c = r.candidate;
  const d = r.delta;
  const rows: EvalRow[] = [];
  const add = (row: EvalRow): void => void rows.push(row);

  add({
    label: 'size', baseline: cell(b, (m) => m.size.bytes, formatBytes), candidate: formatBytes(c.size.bytes),
    delta: d ? `${times(d.sizeRatio)} (${signed(d.sizeBytes / 1024, 1, ' KiB')})` : '', trend: d ? trendOf(d.sizeBytes, true) : undefined,
  });
  add({
    label: 'size gzip', baseline: cell(b, (m) => m.size.gzipBytes, formatBytes), candidate: formatBytes(c.size.gzipBytes),
    delta: d ? times(d.gzipRatio) : '', trend: d ? trendOf(d.gzipBytes, true) : undefined,
  });
  add({
    label: 'parameters', baseline: cell(b, (m) => m.size.parameters, formatCount), candidate: formatCount(c.size.parameters),
    delta: d ? (d.parameters === 0 ? '=' : signed(d.parameters, 0)) : '', trend: d ? trendOf(d.parameters, true) : undefined,
  });
  if (c.latency) {
    add({
      label: 'latency median', baseline: cell(b, (m) => m.latency?.medianMs, ms), candidate: ms(c.latency.medianMs),
      delta: d?.latencyRatio != null ? `${times(d.latencyRatio)} blockwise` : '', trend: d?.latencyRatio != null ? trendOf(d.latencyRatio - 1, true) : undefined,
    });
    add({ label: 'latency p90', baseline: cell(b, (m) => m.latency?.p90Ms, ms), candidate: ms(c.latency.p90Ms), delta: '' });
  }
  const a = c.accuracy;
  if (a) {
    if (a.top1 !== null) {
      add({
        label: 'top-1 accuracy', baseline: cell(b, (m) => m.accuracy?.top1, pct), candidate: pct(a.top1),
        delta: d?.accuracyTop1Points != null ? signed(-d.accuracyTop1Points, 2, ' pts') : '', trend: d?.accuracyTop1Points != null ? trendOf(d.accuracyTop1Points, true) : undefined,
      });
    }
    if (a.top5 !== null) {
      add({
        label: 'top-5 accuracy', baseline: cell(b, (m) => m.accuracy?.top5, pct), candidate: pct(a.top5),
        delta: d?.accuracyTop5Points != null ? signed(-d.accuracyTop5Points, 2, ' pts') : '', trend: d?.accuracyTop5Points != null ? trendOf(d.accuracyTop5Points, true) : undefined,
      });
    }
    if (a.perplexity !== null) {
      add({
        label: 'perplexity', baseline: cell(b, (m) => m.accuracy?.perplexity, (x) => x.toFixed(3)), candidate: a.perplexity.toFixed(3),
        delta: d?.perplexityPercent != null ? signed(d.perplexityPercent, 2, '%') : '', trend: d?.perplexityPercent != null ? trendOf(d.perplexityPercent, true) : undefined,
      });
    }
    if (a.mse !== null) {
      add({
        label: 'mse', baseline: cell(b, (m) => m.accuracy?.mse, (x) => x.toPrecision(4)), candidate: a.mse.toPrecision(4),
        delta: d?.msePercent != null ? signed(d.msePercent, 2, '%') : '', trend: d?.msePercent != null ? trendOf(d.msePercent, true) : undefined,
      });
    }
  }
  const f = c.fidelity;
  if (f) {
    if (f.top1Agreement !== null) add({ label: 'top-1 agreement', baseline: '', candidate: pct(f.top1Agreement), delta: '' });
    add({ label: 'output SQNR', baseline: '', candidate: db(f.sqnrDb), delta: '' });
    add({ label: 'cosine', baseline: '', candidate: f.cosine.toFixed(6), delta: '' });
    add({ label: 'max abs error', baseline: '', candidate: f.maxAbsError.toPrecision(4), delta: '' });
  }
  return rows;
}

/** "1.000 ≤ 0.1 ratio" style text for one budget. */
export function budgetText(x: BudgetResult): string {
  const v = x.value === null ? '∞' : fmtNumber(x.value);
  const maxBound = x.name.startsWith('max-');
  const op = maxBound ? (x.passed ? '≤' : '>') : (x.passed ? '≥' : '<');
  return `${v} ${op} ${fmtNumber(x.limit)}${x.unit === 'ratio' || x.unit === 'fraction' ? '' : ` ${x.unit}`}`;
}

function fmtNumber(x: number): string {
  // Four significant digits, without trailing zeros: 0.1 stays "0.1", 0.27351 becomes "0.2735".
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(4)));
}

/** One line with the settings that shape the numbers. */
export function settingsLine(r: EvalReport): string {
  const s = r.settings;
  const lat = r.candidate.latency;
  const parts = [
    s.samples !== null ? `${formatCount(s.samples)} samples` : 'no data',
    `batch ${s.batchSize}`,
  ];
  if (lat) parts.push(`${s.runs} runs after ${s.warmup} warm-up (${lat.input} input)`, `${lat.runtime} ${lat.backend}`, `threads ${lat.threads ?? 'n/a'}`, `CPU ${cpuLine(lat.cpu)}`);
  else parts.push('latency skipped');
  if (s.metric) parts.push(`metric ${s.metric}`);
  return parts.join(' · ');
}
