/** Human rendering of an InspectReport: a few compact aligned tables. */
import type { Chalk } from 'chalk';
import type { InspectReport, StoredQuantization } from '../../inspect';
import { formatBytes, formatCount, formatShape } from '../format';
import { renderPairs, renderTable } from '../table';

export function renderInspect(title: string, r: InspectReport, c: Chalk): string {
  const head = (s: string): string => c.bold(s);
  const dim = (s: string): string => c.dim(s);
  const opsets = r.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const format = [r.format, r.irVersion !== null ? `ir ${r.irVersion}` : '', opsets ? `opset ${opsets}` : '']
    .filter(Boolean).join(', ');
  const producer = [r.producer.name, r.producer.version].filter(Boolean).join(' ') || dim('unknown');
  const k = r.constants;
  const decoded = k.decodedBytes !== k.storedBytes ? ` (${formatBytes(k.decodedBytes)} decoded)` : '';
  const sections: string[] = [
    c.bold.cyan(title) + '\n' + renderPairs([
      ['Format', format],
      ['Producer', producer],
      ['Files', `${r.files.length} ${r.files.length === 1 ? 'file' : 'files'}, ${formatBytes(r.totalFileBytes)}`],
      ['Parameters', c.green(formatCount(r.parameters))],
      ['Weights', `${formatCount(k.tensors)} ${k.tensors === 1 ? 'tensor' : 'tensors'}, ${formatBytes(k.storedBytes)} stored${decoded}`],
      ['Nodes', formatCount(r.nodeCount)],
    ], { indent: '  ', styleLabel: dim }),
  ];

  const sig = (rows: InspectReport['inputs']): string[][] => rows.map((v) => [v.name, v.dtype ?? '?', formatShape(v.shape)]);
  sections.push(head('Inputs') + '\n' + table(['name', 'dtype', 'shape'], sig(r.inputs), c));
  sections.push(head('Outputs') + '\n' + table(['name', 'dtype', 'shape'], sig(r.outputs), c));

  const qualify = (domain: string, op: string): string => (r.format === 'onnx' && domain ? `${domain}.${op}` : op);
  sections.push(head('Op types') + '\n' + table(['op', 'count'], r.opTypes.map((o) => [qualify(o.domain, o.opType), formatCount(o.count)]), c, [1]));

  sections.push(head('Weights by dtype') + '\n' + table(
    ['stored', 'dtype', 'tensors', 'elements', 'stored bytes', 'decoded bytes'],
    r.bytesByDtype.map((d) => [d.storedDtype, d.dtype, formatCount(d.tensors), formatCount(d.elements), formatBytes(d.storedBytes), formatBytes(d.decodedBytes)]),
    c, [2, 3, 4, 5]));

  sections.push(head(`Largest tensors (top ${r.largestTensors.length})`) + '\n' + table(
    ['name', 'dtype', 'shape', 'stored bytes'],
    r.largestTensors.map((t) => [t.name, t.storedDtype === t.dtype ? t.dtype : `${t.storedDtype}→${t.dtype}`, formatShape(t.shape), formatBytes(t.storedBytes)]),
    c, [3]));

  sections.push(head('Stored quantization') + '\n' + (r.quantization.length
    ? table(['scheme', 'stored', 'bits', 'tensors', 'elements', 'stored bytes'], quantSummary(r.quantization), c, [2, 3, 4, 5])
    : `  ${dim('none')}\n`));
  if (r.recipe) {
    const sha = `sha256 ${r.recipe.sha256 ?? '(none)'}${r.recipe.matches ? '' : c.yellow(' (does not match the recorded recipe)')}`;
    sections.push(head('Recipe') + `\n  ${sha}\n` + r.recipe.steps.map((s, i) => `  steps[${i}] ${s}\n`).join(''));
  }
  return sections.join('\n');
}

function table(headers: string[], rows: string[][], c: Chalk, rightAligned: number[] = []): string {
  if (rows.length === 0) return `  ${c.dim('none')}\n`;
  return renderTable(headers.map((h, i) => ({ header: h, align: rightAligned.includes(i) ? 'right' as const : 'left' as const })), rows,
    { indent: '  ', styleHeader: (s) => c.dim(s) });
}

/** One row per (scheme or op, stored dtype, bits). */
function quantSummary(q: readonly StoredQuantization[]): string[][] {
  const rows = new Map<string, { label: string; dtype: string; bits: number; n: number; elements: number; bytes: number }>();
  for (const e of q) {
    const label = e.op ?? e.scheme;
    const key = `${label}\0${e.storedDtype}\0${e.bits}`;
    const row = rows.get(key) ?? { label, dtype: e.storedDtype, bits: e.bits, n: 0, elements: 0, bytes: 0 };
    row.n++;
    row.elements += e.elements;
    row.bytes += e.storedBytes;
    rows.set(key, row);
  }
  return [...rows.values()].map((r) => [r.label, r.dtype, String(r.bits), formatCount(r.n), formatCount(r.elements), formatBytes(r.bytes)]);
}
