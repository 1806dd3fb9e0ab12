import type { EvalReport } from '../../eval';
import { budgetText, evalRows, settingsLine } from './rows';

/** A `|`-safe cell (GitHub-flavoured Markdown tables). */
function md(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** A Markdown summary for CI job pages ($GITHUB_STEP_SUMMARY): metrics table, budgets table, settings. */
export function renderMarkdown(r: EvalReport): string {
  const withBase = r.baseline !== null;
  const lines: string[] = [];
  const verdict = r.budgets.length === 0 ? '' : r.passed ? ' — ✅ all budgets hold' : ' — ❌ budget broken';
  lines.push(`### mc eval: \`${md(r.candidate.path)}\`${withBase ? ` vs \`${md(r.baseline!.path)}\`` : ''}${verdict}`, '');
  if (withBase) {
    lines.push('| metric | baseline | candidate | delta |', '|---|--:|--:|--:|');
    for (const row of evalRows(r)) lines.push(`| ${md(row.label)} | ${md(row.baseline)} | ${md(row.candidate)} | ${md(row.delta)} |`);
  } else {
    lines.push('| metric | candidate |', '|---|--:|');
    for (const row of evalRows(r)) lines.push(`| ${md(row.label)} | ${md(row.candidate)} |`);
  }
  if (r.budgets.length) {
    lines.push('', '| budget | result | value vs limit |', '|---|---|---|');
    for (const b of r.budgets) lines.push(`| \`--${b.name}\` | ${b.passed ? '✅ pass' : '❌ fail'} | ${md(budgetText(b))} |`);
  }
  const layers = r.candidate.fidelity?.worstLayers;
  if (layers && layers.length) {
    lines.push('', '| worst layer | SQNR |', '|---|--:|');
    for (const l of layers) lines.push(`| \`${md(l.name)}\` | ${l.sqnrDb === null ? '∞' : l.sqnrDb.toFixed(2)} dB |`);
  }
  lines.push('', `<sub>${md(settingsLine(r))} · mc ${r.mcVersion}</sub>`, '');
  return lines.join('\n');
}
