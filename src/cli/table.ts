/**
 * Aligned text tables for human output. Widths ignore ANSI colour codes, so
 * coloured cells line up the same as plain ones.
 */
export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

function pad(s: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - visibleLength(s)));
  return align === 'right' ? fill + s : s + fill;
}

/**
 * Renders rows under a header line, columns separated by two spaces, each line
 * prefixed by `indent`. `styleHeader` colours header cells (after padding).
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  opts: { indent?: string; styleHeader?: (s: string) => string } = {},
): string {
  const widths = columns.map((c, i) => Math.max(visibleLength(c.header), ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const style = opts.styleHeader ?? ((s: string) => s);
  const indent = opts.indent ?? '';
  const line = (cells: readonly string[], head: boolean): string =>
    indent + cells.map((c, i) => {
      const padded = pad(c, widths[i], columns[i].align ?? 'left');
      return head ? style(padded) : padded;
    }).join('  ').trimEnd();
  return [line(columns.map((c) => c.header), true), ...rows.map((r) => line(r, false))].join('\n') + '\n';
}

/** "label  value" lines with labels padded to one width. */
export function renderPairs(pairs: readonly (readonly [string, string])[], opts: { indent?: string; styleLabel?: (s: string) => string } = {}): string {
  const w = Math.max(0, ...pairs.map(([k]) => visibleLength(k)));
  const style = opts.styleLabel ?? ((s: string) => s);
  return pairs.map(([k, v]) => `${opts.indent ?? ''}${style(pad(k, w, 'left'))}  ${v}`).join('\n') + '\n';
}
